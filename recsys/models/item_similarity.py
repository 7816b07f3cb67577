"""What every model scoring by one book x book similarity matrix shares (`similarity_`): a
reader's score for a book is the similarity-weighted sum over the books they borrowed, so fold-in
is free (new loans simply join the sum), and explanations are each own book's share of it."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from recsys.models.matrix import csr_restore, csr_state, dense_product
from recsys.models.ranking import ExplainableRecommender


class ItemSimilarityRecommender(ExplainableRecommender):
    """Scores from `similarity_` (books x books, sparse), set by the subclass's `_fit_model`."""

    similarity_: sparse.csr_matrix

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        return dense_product(rows, self.similarity_).astype(np.float64)

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        forward = np.asarray(self.similarity_[book, others].todense()).ravel()
        backward = np.asarray(self.similarity_[others, book].todense()).ravel()
        return np.maximum(forward, backward).astype(np.float64)

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        column = np.asarray(self.similarity_[row.indices, book].todense()).ravel()
        return row.data.astype(np.float64) * column

    def _model_state(self) -> dict[str, np.ndarray]:
        return csr_state("similarity", self.similarity_)

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.similarity_ = csr_restore("similarity", arrays)
