"""Readers' feedback in training: already_read and liked weigh as positive signals, a
not_interested (reader, book) pair is no positive signal in any model, and the default hybrid
learns it as a negative one in its ALS part."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.data.dataset import Dataset
from recsys.models.hybrid import HybridRecommender
from recsys.models.registry import MODELS, build_model
from tests.models.conftest import FAST_PARAMS, START, checkerboard

READER = "reader-a0"


def _with_feedback(dataset: Dataset, rows: list[tuple[str, str, str]]) -> Dataset:
    extra = pd.DataFrame(
        [(r, b, kind, START + pd.Timedelta(days=30), "main") for r, b, kind in rows],
        columns=list(dataset.interactions.columns),
    )
    frame = pd.concat([dataset.interactions, extra], ignore_index=True)
    return dataclasses.replace(dataset, interactions=frame)


def _borrowed(dataset: Dataset, reader: str) -> list[str]:
    frame = dataset.interactions
    return sorted(frame.loc[frame[C.READER_ID] == reader, C.BOOK_ID].unique())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_dismissed_book_leaves_the_readers_row_and_a_read_one_joins_it(name: str) -> None:
    board = checkerboard()
    own = _borrowed(board, READER)
    dismissed, read = own[1], "a-new"
    model = build_model(name, **FAST_PARAMS[name]).fit(
        _with_feedback(
            board,
            [(READER, dismissed, Feedback.NOT_INTERESTED), (READER, read, Feedback.ALREADY_READ)],
        )
    )
    books = set(model.training_books(READER))
    assert dismissed not in books and read in books
    assert books == (set(own) - {dismissed}) | {read}
    assert model.training_books("never-seen") == []


def test_liked_adds_to_a_borrowed_books_weight_in_the_readers_row() -> None:
    board = checkerboard()
    book = _borrowed(board, READER)[0]

    def weight(dataset: Dataset) -> float:
        model = HybridRecommender(**FAST_PARAMS["hybrid"]).fit(dataset)
        row, column = model.readers_.index([READER])[0], model.books_.index([book])[0]
        return float(model.matrix_[row, column])

    assert weight(board) == pytest.approx(1.0)  # one loan: log2(1 + 1)
    liked = weight(_with_feedback(board, [(READER, book, Feedback.LIKED)]))
    assert liked == pytest.approx(np.log2(1 + 1 + 1))  # a loan and a like


def test_the_hybrid_learns_a_dismissal_as_a_negative_signal_of_that_reader() -> None:
    """Its ALS part scores the dismissed book lower for that reader than the same fit without
    the dismissal, where the book counts as nothing (neither borrowed nor dismissed)."""
    board = checkerboard()
    book = _borrowed(board, READER)[1]
    dismissed = _with_feedback(board, [(READER, book, Feedback.NOT_INTERESTED)])
    frame = board.interactions
    forgotten = dataclasses.replace(
        board,
        interactions=frame.loc[
            ~((frame[C.READER_ID] == READER) & (frame[C.BOOK_ID] == book))
        ].reset_index(drop=True),
    )

    def als_score(dataset: Dataset) -> float:
        model = HybridRecommender(**FAST_PARAMS["hybrid"]).fit(dataset)
        reader = model.readers_.index([READER])[0]
        column = model.books_.index([book])[0]
        return float(model.als_.user_factors[reader] @ model.als_.item_factors[column])

    assert als_score(dismissed) < als_score(forgotten) - 0.05
