"""The default recommender a library gets without tuning: collaborative, content and popularity.

Per reader, each part's scores are scaled to [0, 1] and blended:

- item-item neighbours on BM25-weighted loans (implicit): strongest on library data, where readers
  borrow few books and neighbours of the latest ones predict the next;
- ALS factors (implicit) for broader taste;
- catalog content (TF-IDF over subjects, author, title), weighted up for light readers whose
  collaborative signal is thin, and the only signal for books nobody borrowed yet;
- recent popularity (short half-life), mostly as a prior for light readers.

The reader's own history is recency-weighted (`half_life_days`), so the latest loans steer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy import sparse

from recsys.models.features import content_scores
from recsys.models.knn import item_similarity
from recsys.models.matrix import csr_restore, csr_state
from recsys.models.ranking import ExplainableRecommender, TrainingData, check_min_pair_support
from recsys.models.weighting import aggregate, event_weights


def _scale_rows(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1] by its maximum (negative scores count as no evidence)."""
    scores = np.clip(scores, 0.0, None)
    top = scores.max(axis=1, keepdims=True)
    return np.divide(scores, top, out=np.zeros_like(scores), where=top > 0)


class HybridRecommender(ExplainableRecommender):
    """Blend of BM25 item-KNN, ALS, content similarity and recent popularity."""

    name = "hybrid"

    def __init__(
        self,
        *,
        knn_weight: float = 1.0,
        als_weight: float = 0.3,
        content_weight: float = 0.3,
        popularity_weight: float = 0.05,
        light_reader_books: float = 5.0,
        neighbours: int = 200,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        popularity_half_life_days: float | None = 60.0,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 180.0,
        min_pair_support: int = 3,
        random_state: int | None = None,
    ) -> None:
        check_min_pair_support(min_pair_support)
        self.knn_weight = knn_weight
        self.als_weight = als_weight
        self.content_weight = content_weight
        self.popularity_weight = popularity_weight
        self.light_reader_books = light_reader_books
        self.neighbours = neighbours
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.popularity_half_life_days = popularity_half_life_days
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support
        self.random_state = random_state

    # ---------------------------------------------------------------------------- fitting
    def _fit_model(self, data: TrainingData) -> None:
        self.similarity_ = item_similarity(
            data.matrix, similarity="bm25", neighbours=self.neighbours, bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
        )
        self.als_ = self._new_als()
        if self.als_weight > 0:
            self.als_.fit(data.matrix, show_progress=False)
        else:
            self.als_.user_factors = np.zeros((len(data.readers), 0), dtype=np.float32)
            self.als_.item_factors = np.zeros((len(data.books), 0), dtype=np.float32)
        self.recent_popularity_ = self._recent_popularity(data)
        self.popularity_ = self.recent_popularity_

    def _new_als(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.random_state,
        )

    def _recent_popularity(self, data: TrainingData) -> np.ndarray:
        interactions = data.dataset.interactions
        weights = event_weights(
            interactions, event_weights=self.event_weights,
            half_life_days=self.popularity_half_life_days, reference_time=data.reference_time,
        )
        pairs = aggregate(interactions, weights)
        popularity = np.zeros(len(data.books))
        np.add.at(popularity, data.books.index(pairs["book_id"]), pairs["weight"].to_numpy())
        return popularity

    # ---------------------------------------------------------------------------- scoring
    def _scores(self, rows: sparse.csr_matrix, reader_index: np.ndarray,
                folded: np.ndarray) -> np.ndarray:
        books_read = np.diff(rows.indptr).astype(np.float64)
        light = self.light_reader_books / (self.light_reader_books + books_read)
        total = self.knn_weight * _scale_rows(
            np.asarray((rows @ self.similarity_).todense(), dtype=np.float64)
        )
        if self.als_weight > 0:
            total += self.als_weight * _scale_rows(self._als_scores(rows, reader_index, folded))
        if self.content_weight > 0:
            total += (self.content_weight * (0.5 + light))[:, None] * _scale_rows(
                content_scores(self.content_, rows)
            )
        if self.popularity_weight > 0:
            top = max(self.recent_popularity_.max(), 1e-12)
            total += (self.popularity_weight * light)[:, None] * (self.recent_popularity_ / top)
        return total

    def _als_scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        items = self.als_.item_factors
        factors = np.zeros((rows.shape[0], items.shape[1]), dtype=np.float32)
        stored = (reader_index >= 0) & ~folded
        factors[stored] = self.als_.user_factors[reader_index[stored]]
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            factors[fresh] = self.als_.recalculate_user(fresh, rows[fresh].astype(np.float32))
        return (factors @ items.T).astype(np.float64)

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        forward = np.asarray(self.similarity_[book, others].todense()).ravel()
        backward = np.asarray(self.similarity_[others, book].todense()).ravel()
        knn = np.maximum(forward, backward)
        knn = knn / max(knn.max(initial=0.0), 1e-12)  # a book may have no supported pair
        content = self._content_pair_scores(book, others)
        return self.knn_weight * knn + self.content_weight * content

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        weights = row.data.astype(np.float64)
        knn = weights * np.asarray(self.similarity_[row.indices, book].todense()).ravel()
        content = weights * self._content_pair_scores(book, row.indices)
        return (self.knn_weight * knn / max(knn.max(), 1e-12)
                + self.content_weight * content / max(content.max(), 1e-12))

    # ------------------------------------------------------------------------ persistence
    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            **csr_state("similarity", self.similarity_),
            "user_factors": self.als_.user_factors,
            "item_factors": self.als_.item_factors,
            "recent_popularity": self.recent_popularity_,
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.similarity_ = csr_restore("similarity", arrays)
        self.als_ = self._new_als()
        self.als_.user_factors = arrays["user_factors"]
        self.als_.item_factors = arrays["item_factors"]
        self.recent_popularity_ = arrays["recent_popularity"]
