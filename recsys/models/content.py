"""Content recommender: books whose subjects, author and title resemble the reader's history.

It serves books nobody has borrowed yet and readers whose history is too short for the
collaborative models; the vectors come from `recsys.models.features`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from recsys.models.features import content_scores
from recsys.models.ranking import RankingRecommender, TrainingData


class ContentRecommender(RankingRecommender):
    """Books whose subjects, author and title resemble the reader's history."""

    name = "content"
    private_lists = True  # no list links the reader's history through other readers
    content_for_readers = True
    collaborative = False

    def __init__(
        self,
        *,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
    ) -> None:
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _fit_model(self, data: TrainingData) -> None:
        """Nothing beyond the shared content matrix."""

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        return content_scores(self.content_, rows)

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        return self._content_pair_scores(book, others)

    def _model_state(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        """No model-specific state."""
