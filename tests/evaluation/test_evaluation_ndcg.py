"""`ndcg_from_hits`, the project's one DCG / IDCG computation, on cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluation.metrics import ndcg_from_hits

LOG2_3 = np.log2(3)


def test_ndcg_from_hits_by_hand() -> None:
    hits = np.array([[True, False, True], [False, True, False], [False, False, False]])
    ndcg = ndcg_from_hits(hits, np.array([2, 1, 4]), 3)
    # DCG 1 + 1/log2(4) = 1.5 over IDCG of min(3, 2) gains; 1/log2(3) over 1; no hit
    np.testing.assert_allclose(ndcg, [1.5 / (1 + 1 / LOG2_3), 1 / LOG2_3, 0.0])


def test_lists_shorter_than_k_keep_the_ideal_of_k_positions() -> None:
    ndcg = ndcg_from_hits(np.array([[True, True]]), np.array([5]), 3)
    assert ndcg == pytest.approx([(1 + 1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5)])


def test_more_positions_than_k_are_refused() -> None:
    with pytest.raises(ValueError, match=r"hits must be readers x at most k=3 positions; got"):
        ndcg_from_hits(np.zeros((2, 4), dtype=bool), np.array([1, 1]), 3)
