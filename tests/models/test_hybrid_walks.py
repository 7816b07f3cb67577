"""The hybrid's walks part: its own list on the checkerboard, and bundles saved before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.array_files import load_arrays, save_arrays
from recsys.models.base import ARRAYS_DIR
from recsys.models.hybrid import COMPONENTS, HybridRecommender
from tests.models.conftest import FAST_PARAMS, block_books, block_readers, checkerboard

ONLY = {part: 0.0 for part in COMPONENTS}


def test_the_walks_part_alone_recommends_from_the_readers_block() -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"], weights={**ONLY, "walks": 1.0})  # type: ignore[arg-type]
    model.fit(checkerboard())
    assert model.walks_.nnz > 0
    recs = model.recommend(block_readers("b"), k=2)
    assert set(recs["book_id"]) <= set(block_books("b"))


def test_a_bundle_saved_before_the_walks_part_loads_without_it(tmp_path: Path) -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"]).fit(checkerboard())  # type: ignore[arg-type]
    model.save(tmp_path)
    folder = tmp_path / ARRAYS_DIR
    arrays = {
        key: np.array(value)
        for key, value in load_arrays(folder).items()
        if not key.startswith("model.walks.")
    }
    arrays["model.weights"] = arrays["model.weights"][: COMPONENTS.index("walks")]
    save_arrays(folder, arrays)  # removes the walks part's files
    loaded = HybridRecommender.load(tmp_path)
    assert loaded.blend["walks"] == 0.0
    assert loaded.walks_.shape == model.walks_.shape and loaded.walks_.nnz == 0
    readers = block_readers("a")[:3]
    assert len(loaded.recommend(readers, k=3)) == 9
