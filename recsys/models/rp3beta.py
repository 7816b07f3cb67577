"""RP3beta (Paudel et al., 2017): three-step random walks book -> reader -> book, with the
transition probabilities raised to `alpha` and the destination book's popularity divided out to
the power `beta`, behind the recommender contract.

A graph baseline that is hard to beat on sparse implicit data (Dacrema et al., 2019): each row
keeps its `neighbours` strongest books, and a reader's score is the sum over their own books.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.preprocessing import normalize

from recsys.models.item_similarity import ItemSimilarityRecommender
from recsys.models.matrix import map_blocks, top_per_row
from recsys.models.ranking import TrainingData, check_min_pair_support

#: Books whose walks are computed at once: bounds the fit's peak memory to a block of rows of
#: the book x book product instead of the whole of it.
WALK_BLOCK_BOOKS = 2048


def rp3beta_similarity(
    matrix: sparse.csr_matrix,
    *,
    alpha: float,
    beta: float,
    neighbours: int,
    min_readers: int = 1,
) -> sparse.csr_matrix:
    """Book x book transition weights of the reader x book `matrix` (loans count once), each
    row's `neighbours` strongest kept. A pair fewer than `min_readers` distinct readers borrowed
    gets no weight, so a walk never reveals what a few readers borrowed together."""
    borrowed = matrix.copy().tocsr()
    borrowed.data[:] = 1.0
    to_books = normalize(borrowed, norm="l1", axis=1)  # reader -> book
    to_readers = normalize(borrowed.T.tocsr(), norm="l1", axis=1)  # book -> reader
    to_books.data **= alpha
    to_readers.data **= alpha
    readers = np.diff(borrowed.tocsc().indptr).astype(np.float64)
    damping = sparse.diags(np.power(np.maximum(readers, 1.0), -beta))
    borrowers = borrowed.T.tocsr()

    def block(start: int) -> sparse.csr_matrix:
        rows = slice(start, min(start + WALK_BLOCK_BOOKS, borrowed.shape[1]))
        walks = sparse.csr_matrix((to_readers[rows] @ to_books) @ damping)
        if min_readers > 1:
            together = (borrowers[rows] @ borrowed).tocsr()
            walks = sparse.csr_matrix(walks.multiply(together >= min_readers))
        walks = walks.tocoo()
        kept = walks.row + start != walks.col  # no walk back to the book itself
        walks = sparse.csr_matrix(
            (walks.data[kept], (walks.row[kept], walks.col[kept])), shape=walks.shape
        )
        walks.eliminate_zeros()
        return top_per_row(walks, neighbours)

    blocks = map_blocks(block, range(0, borrowed.shape[1], WALK_BLOCK_BOOKS))
    if not blocks:
        return sparse.csr_matrix((0, 0), dtype=np.float32)
    return sparse.vstack(blocks, format="csr").astype(np.float32)


class RP3betaRecommender(ItemSimilarityRecommender):
    """Books a random walk from the reader's own books reaches most often, popularity damped."""

    name = "rp3beta"

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        beta: float = 0.5,
        neighbours: int = 200,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
        min_pair_support: int = 3,
    ) -> None:
        check_min_pair_support(min_pair_support)
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
            raise ValueError(f"neighbours must be a positive integer; got {neighbours!r}")
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support

    def _fit_model(self, data: TrainingData) -> None:
        self.similarity_ = rp3beta_similarity(
            data.matrix, alpha=self.alpha, beta=self.beta, neighbours=self.neighbours
        )
