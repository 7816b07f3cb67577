"""The hybrid chooses on its own validation whether its parts weight recent loans above older
ones: it keeps the constructor's half-lives unless no recency weighting is clearly better."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.array_files import load_arrays, save_arrays
from recsys.data.dataset import Dataset
from recsys.models.base import ARRAYS_DIR
from recsys.models.hybrid import HybridRecommender
from recsys.tuning import blend, validation
from tests.models.conftest import FAST_PARAMS

BLOCKS, BOOKS_PER_BLOCK, READERS = 3, 30, 300
HALF_LIVES = {"half_life_days": 30.0, "als_half_life_days": 30.0, "popularity_half_life_days": 30.0}
START = pd.Timestamp("2020-01-01", tz="UTC")
VALIDATION_SHARE = 0.15


def log(*, drift: bool, seed: int = 0) -> Dataset:
    """Each reader borrows eight books of their own block over 600 days, then three books of
    another block (days 610-650), then two more books of their own block (days 700-730), or,
    with `drift`, of the other block: their taste moved there. The last two loans of each reader
    are the last `VALIDATION_SHARE` of the loans, which the hybrid validates on (the window is
    not widened: `few_readers_are_enough`); the other block's loans are the most recent before
    them."""
    rng = np.random.default_rng(seed)
    rows = []

    def borrow(reader: int, block: int, books: np.ndarray, first: int, last: int) -> None:
        for book, day in zip(books, np.sort(rng.integers(first, last, len(books))), strict=True):
            stamp = START + pd.Timedelta(days=int(day), hours=int(rng.integers(0, 24)))
            rows.append((f"r{reader}", f"b{block}-{book}", "loan", stamp))

    for reader in range(READERS):
        own = reader % BLOCKS
        other = (own + 1 + reader // BLOCKS % (BLOCKS - 1)) % BLOCKS
        own_books = rng.permutation(BOOKS_PER_BLOCK)
        other_books = rng.permutation(BOOKS_PER_BLOCK)
        borrow(reader, own, own_books[:8], 0, 600)
        borrow(reader, other, other_books[:3], 610, 650)
        if drift:
            borrow(reader, other, other_books[3:5], 700, 730)
        else:
            borrow(reader, own, own_books[8:10], 700, 730)
    frame = pd.DataFrame(rows, columns=["reader_id", "book_id", "event", "timestamp"])
    return Dataset.from_interactions(frame)


@pytest.fixture(autouse=True)
def few_readers_are_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small log's validation window is widened to hold more readers; this log's readers
    are all in its last loans, and a wider window would reach back to the other block. The
    recency is chosen before the blend is bagged: two resamples keep the fits quick."""
    monkeypatch.setattr(validation, "ENOUGH_VALIDATION_READERS", READERS // 2)
    monkeypatch.setattr(blend, "TUNING_RESAMPLES", 2)


def tuned(data: Dataset) -> HybridRecommender:
    model = HybridRecommender(
        **FAST_PARAMS["hybrid"], **HALF_LIVES, tune_weights=True, validation_share=VALIDATION_SHARE
    )  # type: ignore[arg-type]
    return model.fit(data)


def test_tastes_that_last_make_the_tuning_drop_recency_weighting() -> None:
    data = log(drift=False)
    model = tuned(data)
    assert not model.recency_[0]
    assert model.half_life_days_ is None
    params = model.fitted_params()
    assert params["half_life_days"] is None and params["als_half_life_days"] is None
    assert params["popularity_half_life_days"] is None and params["tune_weights"] is False
    # every part learns from the undecayed loans: the matrix a fit without half-lives builds
    plain = HybridRecommender(**params).fit(data)
    assert (abs(model.matrix_ - plain.matrix_) > 1e-9).nnz == 0


def test_tastes_that_move_keep_recency_weighting() -> None:
    model = tuned(log(drift=True))
    assert model.recency_[0]
    assert model.half_life_days_ == HALF_LIVES["half_life_days"]
    assert model.fitted_params()["als_half_life_days"] == HALF_LIVES["als_half_life_days"]


def test_a_model_without_half_lives_has_no_recency_to_choose() -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"], half_life_days=None)  # type: ignore[arg-type]
    assert model._recency_choices() == (True, False)
    none = {key: None for key in HALF_LIVES}
    assert HybridRecommender(**none)._recency_choices() == (True,)


def test_the_chosen_recency_survives_save_and_load_and_older_bundles_keep_theirs(
    tmp_path: Path,
) -> None:
    data = log(drift=False)
    model = tuned(data)
    model.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path)
    assert not loaded.recency_[0] and loaded.half_life_days_ is None
    readers = list(model.readers_.ids[:10])
    history = data.interactions[data.interactions["reader_id"].isin(readers)]
    pd.testing.assert_frame_equal(
        model.recommend(readers, k=5, history=history)[["reader_id", "book_id"]],
        loaded.recommend(readers, k=5, history=history)[["reader_id", "book_id"]],
    )
    folder = tmp_path / ARRAYS_DIR
    saved = load_arrays(folder)
    assert all(np.isfinite(value).all() for value in saved.values() if value.dtype.kind == "f")
    arrays = {
        key: np.array(value)
        for key, value in load_arrays(folder).items()
        if key not in ("model.recency", "half_life_days")
    }
    save_arrays(folder, arrays)
    older = HybridRecommender.load(tmp_path)
    assert older.recency_[0] and older.half_life_days_ == HALF_LIVES["half_life_days"]


def test_an_unknown_validation_method_is_refused() -> None:
    with pytest.raises(ValueError, match=r"validation_method must be one of \['temporal', 'ran"):
        HybridRecommender(validation_method="leave-last")
