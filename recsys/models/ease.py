"""EASE (Steck, 2019): a closed-form item-item model, ``B = I - P / diag(P)`` with
``P = (X^T X + l2 I)^-1`` and a zero diagonal, behind the recommender contract.

A strong baseline for sparse loan data. The inverse is dense and cubic in the books, so only the
`max_books` books most readers borrowed are modelled; the others get no EASE score (the
popularity tie-break orders them after every modelled book).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from recsys.models.ranking import ExplainableRecommender, TrainingData, check_min_pair_support


def ease_weights(matrix: sparse.csr_matrix, l2: float) -> np.ndarray:
    """The EASE item x item weights of the reader x book `matrix` (dense, float32)."""
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = inverse / -np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


def most_borrowed(matrix: sparse.csr_matrix, n: int) -> np.ndarray:
    """Columns of the `n` books most readers borrowed (ties: lower column), in column order;
    books nobody borrowed are never among them."""
    readers = np.diff(matrix.tocsc().indptr)
    order = np.lexsort((np.arange(len(readers)), -readers))
    chosen = order[: min(n, int((readers > 0).sum()))]
    return np.sort(chosen)


class EASERecommender(ExplainableRecommender):
    """Books whose learnt item-item weights from the reader's own books are highest."""

    name = "ease"

    def __init__(
        self,
        *,
        l2: float = 200.0,
        max_books: int = 8000,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
        min_pair_support: int = 3,
    ) -> None:
        check_min_pair_support(min_pair_support)
        if not l2 > 0:
            raise ValueError(f"l2 must be positive; got {l2!r}")
        if isinstance(max_books, bool) or not isinstance(max_books, int) or max_books < 1:
            raise ValueError(f"max_books must be a positive integer; got {max_books!r}")
        self.l2 = l2
        self.max_books = max_books
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support

    def _fit_model(self, data: TrainingData) -> None:
        self.modelled_ = most_borrowed(data.matrix, self.max_books)
        self.weights_ = ease_weights(data.matrix[:, self.modelled_], self.l2)

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        scores = np.zeros(rows.shape, dtype=np.float32)
        scores[:, self.modelled_] = rows[:, self.modelled_] @ self.weights_
        return scores

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        position = self._positions()
        scores = np.zeros(len(others))
        if position[book] < 0:
            return scores
        modelled = position[others] >= 0
        scores[modelled] = self.weights_[position[book], position[others[modelled]]]
        return scores

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        position = self._positions()
        contributions = np.zeros(row.nnz)
        if position[book] < 0:
            return contributions
        own = position[row.indices]
        modelled = own >= 0
        contributions[modelled] = row.data[modelled] * self.weights_[own[modelled], position[book]]
        return contributions

    def _positions(self) -> np.ndarray:
        """Each book's row in `weights_`, -1 for a book not modelled."""
        position = np.full(self.n_columns, -1, dtype=np.int64)
        position[self.modelled_] = np.arange(len(self.modelled_))
        return position

    def _model_state(self) -> dict[str, np.ndarray]:
        return {"modelled": self.modelled_, "weights": self.weights_}

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.modelled_ = arrays["modelled"]
        self.weights_ = arrays["weights"]
