"""implicit's Bayesian personalised ranking behind the recommender contract.

BPR learns from which books a reader has, not how much; fitting is single-threaded so that a
seeded fit is reproducible (implicit's multi-threaded SGD is not). Fold-in uses the weighted
mean of the reader's book factors, because BPR has no closed-form user solve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking
from scipy import sparse

from recsys.models.ranking import RankingRecommender, TrainingData, check_min_pair_support


class BPRRecommender(RankingRecommender):
    """Pairwise-ranking matrix factorisation (implicit, CPU)."""

    name = "bpr"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
        min_pair_support: int = 3,
        random_state: int | None = None,
    ) -> None:
        check_min_pair_support(min_pair_support)
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support
        self.random_state = random_state

    def _fit_model(self, data: TrainingData) -> None:
        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=1,
            random_state=self.random_state,
        )
        model.fit(data.matrix, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        factors = np.zeros((rows.shape[0], self.item_factors_.shape[1]), dtype=np.float32)
        stored = (reader_index >= 0) & ~folded
        factors[stored] = self.user_factors_[reader_index[stored]]
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            weights = sparse.diags(1.0 / np.maximum(rows[fresh].sum(axis=1).A1, 1e-12))
            factors[fresh] = weights @ rows[fresh] @ self.item_factors_
            factors[fresh, -1] = 1.0  # implicit keeps the item bias in the last column
        return (factors @ self.item_factors_.T).astype(np.float64)

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        items = self.item_factors_[:, :-1]
        norms = np.linalg.norm(items, axis=1) + 1e-12
        return (items[others] @ items[book]) / (norms[others] * norms[book])

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        self.user_factors_ = self.user_factors_[keep]

    def _model_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
