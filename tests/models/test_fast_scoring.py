"""One reader at a time (the service's call) scores exactly as a batch does (the evaluation's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.matrix import SMALL_PRODUCT_ROWS, dense_product
from recsys.models.registry import build_model
from recsys.models.weighting import compensated_sums, event_weights
from tests.models.conftest import FAST_PARAMS, block_readers

from .pair_reference import aggregate

WHEN = pd.Timestamp("2024-04-01", tz="UTC")


def random_csr(rows: int, columns: int, density: float, seed: int) -> sparse.csr_matrix:
    matrix = sparse.random(
        rows, columns, density=density, format="csr", dtype=np.float32, random_state=seed
    )
    matrix.data *= 1000.0  # values far from 1 make rounding differences visible
    return matrix


@pytest.mark.parametrize("n_rows", [1, 3, SMALL_PRODUCT_ROWS + 5])
def test_dense_product_equals_scipy_bit_for_bit(n_rows: int) -> None:
    left = random_csr(n_rows, 300, 0.2, seed=1)
    right = random_csr(300, 400, 0.3, seed=2)
    expected = (left @ right).toarray()
    got = dense_product(left, right)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_compensated_sums_match_pandas_groupby_sum() -> None:
    values = np.array([1e16, 1.0, 5.0, 1.0, 2.5])
    groups = np.array([0, 0, 1, 0, 1])
    sums = compensated_sums(groups, values, 3)
    # naive left-to-right float64 addition would lose both ones: 1e16 + 1 == 1e16
    assert sums.tolist() == [1e16 + 2.0, 7.5, 0.0]
    pandas_sums = pd.Series(values).groupby(groups).sum()
    assert sums[:2].tolist() == pandas_sums.tolist()


@pytest.mark.parametrize("name", ["hybrid", "als", "knn", "content"])
def test_one_reader_at_a_time_equals_the_batch(name: str, board: Dataset) -> None:
    model = build_model(name, **FAST_PARAMS[name]).fit(board)
    readers = [*block_readers("a"), *block_readers("b"), "newcomer"]
    assert len(readers) > SMALL_PRODUCT_ROWS  # the batch takes scipy's path
    history = pd.DataFrame(
        {
            C.READER_ID: [readers[0], readers[0], readers[25], "newcomer", "newcomer"],
            C.BOOK_ID: ["a3", "a5", "b7", "b1", "b2"],
            C.EVENT: ["loan", "renewal", "loan", "loan", "hold"],
            C.TIMESTAMP: WHEN,
        }
    )
    wide_batch = model.recommend(readers, k=K_WIDE, history=history)
    batch = wide_batch.groupby(C.READER_ID, sort=False).head(K).reset_index(drop=True)
    single = pd.concat(
        [model.recommend([r], k=K, history=history) for r in readers], ignore_index=True
    )
    assert_same_lists_up_to_near_ties(single, batch, wide_batch)


K, K_WIDE = 6, 12
SCORE_RTOL, SCORE_ATOL = 1e-6, 1e-7


def assert_same_lists_up_to_near_ties(
    single: pd.DataFrame, batch: pd.DataFrame, wide_batch: pd.DataFrame
) -> None:
    """Equal lists, except where two books' scores agree to float32 rounding.

    BLAS rounds a matrix-matrix product (the batch's ALS factors) differently from a
    matrix-vector one in the last float32 bits, which may swap two books whose scores tie
    to that precision; every sparse part is equal bit for bit.
    """
    assert single[C.READER_ID].tolist() == batch[C.READER_ID].tolist()
    np.testing.assert_allclose(single[C.SCORE], batch[C.SCORE], rtol=SCORE_RTOL, atol=SCORE_ATOL)
    swapped = single[single[C.BOOK_ID].to_numpy() != batch[C.BOOK_ID].to_numpy()]
    assert len(swapped) <= 0.02 * len(single), "more than a few near-tie swaps"
    wide_scores = wide_batch.set_index([C.READER_ID, C.BOOK_ID])[C.SCORE]
    for row in swapped.itertuples(index=False):
        reader, book, score = getattr(row, C.READER_ID), getattr(row, C.BOOK_ID), row.score
        assert (reader, book) in wide_scores.index, f"{book} is not in the batch list"
        np.testing.assert_allclose(
            wide_scores[(reader, book)], score, rtol=SCORE_RTOL, atol=SCORE_ATOL
        )


def test_folded_history_is_weighted_like_training(board: Dataset) -> None:
    model = build_model("hybrid", **FAST_PARAMS["hybrid"], half_life_days=30.0).fit(board)
    history = pd.DataFrame(
        {
            C.READER_ID: "newcomer",
            C.BOOK_ID: ["b1", "b1", "b2", "b1", "unknown-book"],
            C.EVENT: ["loan", "renewal", "view", "loan", "loan"],
            C.TIMESTAMP: [WHEN, WHEN + pd.Timedelta(days=20), WHEN, WHEN, WHEN],
        }
    )
    _, rows, folded = model.reader_rows(["newcomer", "someone", "newcomer"], history)
    known = history.iloc[:4]
    pairs = aggregate(
        known, event_weights(known, half_life_days=30.0, reference_time=model.reference_time_)
    )
    expected = dict(zip(pairs[C.BOOK_ID], pairs[C.WEIGHT].astype(np.float32), strict=True))
    for row in (0, 2):  # a reader listed twice gets the history on both listings
        start, end = rows.indptr[row], rows.indptr[row + 1]
        got = dict(
            zip(model.books_.ids[rows.indices[start:end]], rows.data[start:end], strict=True)
        )
        assert got == expected
    assert folded.tolist() == [True, False, True]
