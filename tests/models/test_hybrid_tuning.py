"""The hybrid's per-reader scaling of its parts and its popularity penalty (its blend tuning is
tested in tests/tuning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.models.hybrid import (
    PENALTY_FREE_BOOKS,
    SCALE_BOOKS,
    HybridRecommender,
    _best_mean_factors,
    _scale_rows,
)
from recsys.models.registry import build_model, load_model
from tests.models.conftest import FAST_PARAMS, block_books, block_readers, checkerboard


def test_parts_are_scaled_by_their_best_books_new_to_the_reader() -> None:
    """Hand-computed: the reader's own book (20) and negative scores do not set the scale; the
    ten best other books (10, 9, ..., 1) have mean 5.5."""
    assert SCALE_BOOKS == 10
    evidence = [-1.0, 20.0, *range(10, 0, -1), 0.5]
    scores = np.array(
        [evidence, [0.0] * 13, [np.nan] + [1.0] * 12, [0.0, 4.0] + [0.0] * 11], dtype=np.float32
    )
    own = [np.array([1]), np.array([], dtype=int), np.array([], dtype=int), np.array([1])]
    by_maximum = _scale_rows(scores.copy())
    np.testing.assert_allclose(by_maximum[0], np.clip(evidence, 0, None) / 20.0, rtol=1e-6)
    scaled = _scale_rows(scores)
    scaled *= _best_mean_factors(scaled, own)[:, None]
    expected = np.array([0.0, 20.0, *range(10, 0, -1), 0.5]) / 5.5
    np.testing.assert_allclose(scaled[0], expected, rtol=1e-6)
    for rows in (by_maximum, scaled):
        assert not rows[1].any() and not rows[2].any()  # no evidence, NaN: nothing
        np.testing.assert_allclose(rows[3], [0.0, 1.0] + [0.0] * 11)  # only the reader's own


def test_penalty_steers_lists_after_their_head_away_from_the_most_borrowed_books() -> None:
    board = checkerboard()
    readers = block_readers("a")
    readers_per_book = board.interactions.groupby("book_id")["reader_id"].nunique()
    k = PENALTY_FREE_BOOKS + 3

    def lists(penalty: float) -> pd.DataFrame:
        params = {**FAST_PARAMS["hybrid"], "popularity_penalty": penalty}
        return build_model("hybrid", **params).fit(board).recommend(readers, k=k)

    def mean_readers(recs: pd.DataFrame) -> float:
        return float(readers_per_book.reindex(recs["book_id"]).fillna(0).mean())

    plain, penalised = lists(0.0), lists(3.0)
    head, tail = penalised["rank"] <= PENALTY_FREE_BOOKS, penalised["rank"] > PENALTY_FREE_BOOKS
    assert penalised[head][["reader_id", "book_id", "rank"]].equals(
        plain[plain["rank"] <= PENALTY_FREE_BOOKS][["reader_id", "book_id", "rank"]]
    )
    assert mean_readers(penalised[tail]) < mean_readers(plain[plain["rank"] > PENALTY_FREE_BOOKS])


def test_penalty_and_part_scale_survive_save_and_load(tmp_path: Path) -> None:
    params = {**FAST_PARAMS["hybrid"], "popularity_penalty": 0.5, "part_scale": "best_mean"}
    model = build_model("hybrid", **params)
    model.fit(checkerboard()).save(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.penalty == model.penalty == 0.5
    assert loaded.fitted_params()["part_scale"] == "best_mean"
    readers = block_readers("b")[:5]
    assert loaded.recommend(readers, k=4).equals(model.recommend(readers, k=4))


def test_negative_penalty_is_refused() -> None:
    with pytest.raises(ValueError, match="popularity_penalty must be >= 0; got -1"):
        build_model("hybrid", popularity_penalty=-1)


def test_a_reader_whose_loans_all_faded_does_not_break_the_fit() -> None:
    board = checkerboard()
    old = board.interactions.iloc[:3].assign(
        reader_id="long-gone",
        timestamp=board.interactions["timestamp"].min() - pd.Timedelta(days=36_500),
    )
    data = Dataset.from_interactions(
        pd.concat([board.interactions, old], ignore_index=True), board.catalog
    )
    # one-day half-life for the profiles, none for the ALS part: its matrix has the old reader
    params = {**FAST_PARAMS["hybrid"], "half_life_days": 1.0, "als_half_life_days": None}
    model = build_model("hybrid", **params).fit(data)
    assert len(model.recommend(["long-gone"], k=3)) == 3


def test_validation_shortlists_mark_each_readers_next_loans_among_books_new_to_them() -> None:
    """The checkerboard's catalog is smaller than a part's shortlist: every book new to a
    reader is on it, so each next loan the model knows is a hit; the reader's own books are
    padding, and pairs of other readers or unknown books count for nobody."""
    board = checkerboard()
    model = build_model("hybrid", **FAST_PARAMS["hybrid"]).fit(board)
    assert isinstance(model, HybridRecommender)
    readers = np.array(block_readers("a")[:6])
    loans = board.interactions
    own = {r: set(loans.loc[loans["reader_id"] == r, "book_id"]) for r in readers}
    next_loans = [(r, book) for r in readers for book in block_books("a") if book not in own[r]]
    relevant = pd.DataFrame(
        [*next_loans, (readers[0], "not-in-the-catalog"), ("reader-b0", "a1")],
        columns=["reader_id", "book_id"],
    )
    lists = model.validation_shortlists(readers, relevant)
    expected = [sum(reader == r for reader, _ in next_loans) for r in readers]
    assert sum(expected) > 0
    assert lists.n_relevant.tolist() == expected
    assert lists.hits.sum(axis=1).tolist() == expected
    for row, reader in enumerate(readers):
        shown = set(model.books_.ids[lists.books[row][~lists.padding[row]]])
        assert shown == set(model.books_.ids) - own[reader] - {"a0-second"}
