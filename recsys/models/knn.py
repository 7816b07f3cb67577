"""implicit's item-item nearest neighbours (cosine or BM25) behind the recommender contract.

A reader's score for a book is the similarity-weighted sum over the books they borrowed, so
fold-in is free: new loans (recency-weighted) simply join the sum.
"""

from __future__ import annotations

import numpy as np
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize
from scipy import sparse

from recsys.models.item_similarity import ItemSimilarityRecommender
from recsys.models.ranking import TrainingData, check_min_pair_support

SIMILARITIES = ("cosine", "bm25")


def item_similarity(
    matrix: sparse.csr_matrix, *, similarity: str, neighbours: int, bm25_k1: float, bm25_b: float
) -> sparse.csr_matrix:
    """Top-`neighbours` item x item similarity computed by implicit."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}; got {similarity!r}")
    counts = matrix.astype(np.float64)
    # the weighting of implicit's BM25Recommender / CosineRecommender, handed over as CSR
    if similarity == "bm25":
        weighted = bm25_weight(counts.T, K1=bm25_k1, B=bm25_b).T.tocsr()
    else:
        weighted = normalize(counts.T).T.tocsr()
    model = ItemItemRecommender(K=neighbours)
    model.fit(weighted, show_progress=False)
    similarity_matrix = model.similarity.tocsr().astype(np.float32)
    similarity_matrix.sort_indices()
    return similarity_matrix


class ItemKNNRecommender(ItemSimilarityRecommender):
    """Books borrowed by the same readers as the reader's own books."""

    name = "knn"

    def __init__(
        self,
        *,
        similarity: str = "bm25",
        neighbours: int = 100,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
        min_pair_support: int = 3,
    ) -> None:
        check_min_pair_support(min_pair_support)
        self.similarity = similarity
        self.neighbours = neighbours
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support

    def _fit_model(self, data: TrainingData) -> None:
        self.similarity_ = item_similarity(
            data.matrix,
            similarity=self.similarity,
            neighbours=self.neighbours,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
        )
