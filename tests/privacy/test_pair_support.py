"""'Also borrowed' never reveals one reader: a pair of books is linked only when at least k
distinct readers borrowed both (property-based), and k below 2 is refused."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.models.hybrid import HybridRecommender
from recsys.models.registry import default_model

BOOKS = [f"B{i}" for i in range(7)]
histories = st.lists(
    st.sets(st.sampled_from(BOOKS), min_size=1, max_size=len(BOOKS)), min_size=1, max_size=14
)


def _support(histories: list[set[str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for books in histories:
        for pair in itertools.permutations(sorted(books), 2):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


@hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, k=st.integers(min_value=2, max_value=4), renewals=st.booleans())
def test_no_similar_list_holds_a_pair_with_fewer_than_k_readers(
    history: list[set[str]], k: int, renewals: bool
) -> None:
    rows = [
        {C.READER_ID: f"r{n}", C.BOOK_ID: book, C.EVENT: event}
        for n, books in enumerate(history)
        for book in sorted(books)
        for event in (("loan", "renewal") if renewals else ("loan",))
    ]
    dataset = Dataset.from_interactions(pd.DataFrame(rows))
    model = default_model(Settings(_env_file=None, min_pair_support=k, seed=1))
    # The links come from pair support, not from the factors: a small ALS keeps examples fast.
    model.set_params(factors=2, iterations=1).fit(dataset)
    borrowed = sorted(set().union(*history))

    similar = model.similar_books(borrowed, k=10)

    support = _support(history)
    for book, other in similar[[C.BOOK_ID, C.SIMILAR_BOOK_ID]].itertuples(index=False):
        assert support.get((book, other), 0) >= k, (book, other, k)
    # Not vacuous: every book with a pair of enough readers does get an also-borrowed list.
    linked_books = {book for (book, _), n in support.items() if n >= k}
    assert linked_books <= set(similar[C.BOOK_ID])


def test_pair_support_below_two_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_pair_support must be at least 2"):
        Settings(_env_file=None, min_pair_support=1)
    with pytest.raises(ValueError, match="min_pair_support must be an integer of at least 2"):
        HybridRecommender(min_pair_support=1)
