"""Property: a collaborative model never links two borrowed books fewer than k readers share."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.registry import build_model
from tests.models.conftest import FAST_PARAMS

histories = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 9)), min_size=4, max_size=80)


def support(pairs: list[tuple[int, int]]) -> dict[tuple[str, str], int]:
    books_of: dict[int, set[str]] = {}
    for reader, book in pairs:
        books_of.setdefault(reader, set()).add(f"book{book}")
    counts: dict[tuple[str, str], int] = {}
    for books in books_of.values():
        for a, b in combinations(sorted(books), 2):
            counts[(a, b)] = counts.get((a, b), 0) + 1
    return counts


@pytest.mark.parametrize("name", ["knn", "hybrid", "als"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=histories, k=st.integers(2, 4))
def test_no_similar_pair_has_fewer_than_k_readers(
    name: str, pairs: list[tuple[int, int]], k: int
) -> None:
    interactions = pd.DataFrame(
        {
            C.READER_ID: [f"reader{r}" for r, _ in pairs],
            C.BOOK_ID: [f"book{b}" for _, b in pairs],
            C.EVENT: "loan",
            C.TIMESTAMP: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    model = build_model(name, **{**FAST_PARAMS[name], "min_pair_support": k}).fit(
        Dataset.from_interactions(interactions)
    )
    books = sorted(interactions[C.BOOK_ID].unique())
    similar = model.similar_books(books, k=10)
    counts = support(pairs)
    for query, other in zip(similar[C.BOOK_ID], similar[C.SIMILAR_BOOK_ID], strict=True):
        assert counts.get(tuple(sorted((query, other))), 0) >= k
