"""`largest` is the full sort's top-n, ties by lower index, for any scores a list can meet."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models.top import BLOCK, largest, largest_per_row


def sorted_top(values: np.ndarray, n: int) -> np.ndarray:
    return np.lexsort((np.arange(len(values)), -values))[:n]


def scores(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "distinct":
        return rng.random(size)
    if kind == "ties":
        return rng.integers(0, 4, size).astype(np.float64)
    values = np.full(size, -np.inf)  # mostly masked: fewer allowed books than asked for
    allowed = rng.random(size) < 0.02
    values[allowed] = rng.random(int(allowed.sum()))
    return values


@pytest.mark.parametrize("kind", ["distinct", "ties", "masked"])
@pytest.mark.parametrize("size", [1, BLOCK - 1, 10 * BLOCK + 7, 300 * BLOCK])
@pytest.mark.parametrize("n", [1, 10, 36, 500])
def test_largest_is_the_sorted_top(kind: str, size: int, n: int) -> None:
    rng = np.random.default_rng(size * 7 + n)
    values = scores(kind, size, rng)
    top = largest(values, n)
    assert len(top) == min(n, size)
    assert np.array_equal(top, sorted_top(values, n))


def test_largest_per_row_takes_each_row_alone() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 50, (5, 40 * BLOCK)).astype(np.float64)
    top = largest_per_row(values, 20)
    assert top.shape == (5, 20)
    for row, picked in zip(values, top, strict=True):
        assert np.array_equal(picked, sorted_top(row, 20))


def test_nothing_asked_or_nothing_there() -> None:
    assert largest(np.arange(5.0), 0).size == 0
    assert largest(np.empty(0), 3).size == 0
    assert largest_per_row(np.empty((0, 4)), 2).shape == (0, 2)
