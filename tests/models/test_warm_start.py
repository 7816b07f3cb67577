"""ALS fits that start from an earlier fit's factors: the nightly's refit on all data, and the
hybrid's full fit after its blend-tuning fit (see `test_reader_lists_fit`)."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.als import WARM_START_ITERATIONS, StartingFactors
from recsys.models.matrix import IdMap
from recsys.models.registry import build_model
from tests.models.test_fit_equivalence import messy_interactions

PARAMS = {"factors": 8, "iterations": 15}


def older_and_all() -> tuple[Dataset, Dataset]:
    """A library's loans, and the same without its newest tenth (what the candidate saw)."""
    frame = messy_interactions(seed=3, n=8000)
    cut = frame[C.TIMESTAMP].quantile(0.9)
    return Dataset.from_interactions(frame[frame[C.TIMESTAMP] < cut]), Dataset.from_interactions(
        frame
    )


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12
    return float(((a * b).sum(axis=1) / norms).mean())


def test_starting_factors_are_placed_by_id() -> None:
    start = StartingFactors(
        IdMap(["r1", "r2"]),
        IdMap(["b1", "b2"]),
        np.array([[1.0, 1.0], [2.0, 2.0]], dtype=np.float32),
        np.array([[3.0, 3.0], [4.0, 4.0]], dtype=np.float32),
    )
    als = AlternatingLeastSquares(factors=2, iterations=15, random_state=0)
    start.place(als, IdMap(["r2", "r3"]), IdMap(["b2", "b9", "b1"]))
    assert als.user_factors[0].tolist() == [2.0, 2.0]
    assert als.item_factors[0].tolist() == [4.0, 4.0]
    assert als.item_factors[2].tolist() == [3.0, 3.0]
    # ids the earlier fit did not know start as implicit starts every row
    for new in (als.user_factors[1], als.item_factors[1]):
        assert ((new >= 0) & (new < 0.01)).all() and new.any()
    assert als.iterations == WARM_START_ITERATIONS
    fewer = AlternatingLeastSquares(factors=2, iterations=3)
    start.place(fewer, IdMap(["r1"]), IdMap(["b1"]))
    assert fewer.iterations == 3  # never more iterations than the model asks for


def test_starting_factors_of_another_size_are_refused() -> None:
    start = StartingFactors(
        IdMap(["r1"]), IdMap(["b1"]), np.ones((1, 2), np.float32), np.ones((1, 2), np.float32)
    )
    with pytest.raises(ValueError, match="2 dimensions; the model has 3"):
        start.place(AlternatingLeastSquares(factors=3), IdMap(["r1"]), IdMap(["b1"]))


@pytest.mark.parametrize("name", ["als", "hybrid"])
def test_a_refit_goes_on_from_the_earlier_factors_once(name: str) -> None:
    older, everything = older_and_all()
    earlier = build_model(name, **PARAMS, random_state=0).fit_for_reader_lists(older)
    warm = build_model(name, **PARAMS, random_state=1)
    warm.start_next_fit_from(earlier.starting_factors()).fit_for_reader_lists(everything)
    cold = build_model(name, **PARAMS, random_state=1).fit_for_reader_lists(everything)
    shared = earlier.books_.index(warm.books_.ids)
    assert (shared >= 0).mean() > 0.9
    before = earlier.als_.item_factors[shared[shared >= 0]]
    # factors are defined only up to a rotation: a fit from a random start lands elsewhere,
    # one that goes on from the earlier factors stays near them
    assert mean_cosine(warm.als_.item_factors[shared >= 0], before) > 0.75
    assert mean_cosine(cold.als_.item_factors[shared >= 0], before) < 0.4
    # the start serves one fit: the model's next fit starts from random factors again
    warm.fit_for_reader_lists(everything)
    assert np.array_equal(warm.als_.item_factors, cold.als_.item_factors)
