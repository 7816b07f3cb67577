"""The hybrid's EASE part: its own list on the checkerboard, its k-anonymity (a weight between
two books only where k readers borrowed both, counted by hand), and bundles saved before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

from recsys.models.hybrid import COMPONENTS, HybridRecommender
from tests.models.conftest import FAST_PARAMS, block_books, block_readers, checkerboard
from tests.models.test_hybrid_walks import save_without_part
from tests.models.test_k_anonymous_parts import _dataset, loans

ONLY = {part: 0.0 for part in COMPONENTS}


def test_the_ease_part_alone_recommends_from_the_readers_block() -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"], weights={**ONLY, "ease": 1.0})  # type: ignore[arg-type]
    model.fit(checkerboard())
    assert np.abs(model.ease_).sum() > 0
    recs = model.recommend(block_readers("b"), k=2)
    assert set(recs["book_id"]) <= set(block_books("b"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=loans)
def test_an_ease_weight_links_two_books_only_where_k_readers_borrowed_both(
    rows: list[tuple[int, int, int]],
) -> None:
    k = 3
    model = HybridRecommender(factors=2, iterations=2, min_pair_support=k, random_state=0)
    model.fit(_dataset(rows))
    readers_of: dict[str, set[int]] = {}
    for reader, book, _ in rows:
        readers_of.setdefault(f"b{book}", set()).add(reader)
    books = model.column_ids().ids[model.ease_books_]
    for i, first in enumerate(books):
        for j, second in enumerate(books):
            if model.ease_[i, j] != 0:
                assert i != j
                assert len(readers_of[first] & readers_of[second]) >= k


def test_a_bundle_saved_before_the_ease_part_loads_without_it(tmp_path: Path) -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"]).fit(checkerboard())  # type: ignore[arg-type]
    model.save(tmp_path)
    save_without_part(tmp_path, "ease", lambda key: key in ("model.ease", "model.ease_books"))
    loaded = HybridRecommender.load(tmp_path)
    assert loaded.blend["ease"] == 0.0 and loaded.ease_.size == 0
    readers = block_readers("a")[:3]
    assert len(loaded.recommend(readers, k=3)) == 9
