"""implicit's alternating least squares behind the recommender contract.

Confidence is ``1 + alpha * weight`` (Hu, Koren & Volinsky); optional BM25 weighting damps
heavy readers and very popular books before that. Readers with loans newer than the model are
folded in with implicit's `recalculate_user`.

A fit can start from an earlier fit's factors (`StartingFactors`): refitting on the same library
plus its newest loans then needs `WARM_START_ITERATIONS` instead of 15 (at ten million loans each
ALS fit costs a minute and a half).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy import sparse

from recsys.models.matrix import IdMap
from recsys.models.ranking import ExplainableRecommender, TrainingData, check_min_pair_support

#: ALS iterations of a fit that starts from an earlier fit's factors. Measured by refitting with
#: the newest 10 % of loans added (Swiss loans, Lib-SibGMU, generated 200k and 1M): NDCG@10 stays
#: within the spread of cold 15-iteration fits with other seeds; at 10M loans the default model's
#: NDCG@10 went from 0.0685 to 0.0687 (`benchmarks/bench_training.py`).
WARM_START_ITERATIONS = 5


def bm25_length_norm(matrix: sparse.csr_matrix, b: float) -> np.ndarray:
    """Per-book BM25 length normalisation (books are the 'documents', readers the 'terms')."""
    totals = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
    mean = totals.mean() if len(totals) and totals.mean() > 0 else 1.0
    return (1.0 - b) + b * totals / mean


def bm25_rows(rows: sparse.csr_matrix, length_norm: np.ndarray, k1: float) -> sparse.csr_matrix:
    """implicit's `bm25_weight` applied to reader rows, so that fold-in rows match training."""
    rows = rows.tocsr().astype(np.float32)
    n_books = rows.shape[1]
    idf = np.log(max(n_books, 1)) - np.log1p(np.diff(rows.indptr))
    data = rows.data.astype(np.float64)
    reader = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    data = data * (k1 + 1.0) / (k1 * length_norm[rows.indices] + data) * idf[reader]
    weighted = sparse.csr_matrix(
        (data.astype(np.float32), rows.indices, rows.indptr), shape=rows.shape
    )
    weighted.data = np.clip(weighted.data, 0.0, None)
    weighted.eliminate_zeros()
    return weighted


def implicit_als(owner: Any) -> AlternatingLeastSquares:
    """implicit's ALS built from `owner`'s factors, regularization, alpha, iterations and seed."""
    return AlternatingLeastSquares(
        factors=owner.factors,
        regularization=owner.regularization,
        alpha=owner.alpha,
        iterations=owner.iterations,
        random_state=owner.random_state,
    )


@dataclass(frozen=True)
class StartingFactors:
    """An ALS fit's factors by reader and book id, for a later fit on newer data to start from."""

    readers: IdMap
    books: IdMap
    user_factors: np.ndarray
    item_factors: np.ndarray

    def place(self, als: AlternatingLeastSquares, readers: IdMap, books: IdMap) -> None:
        """Start `als` on `readers` x `books` from these factors, with `WARM_START_ITERATIONS`.

        A reader or book these factors do not know starts as implicit starts every row (small
        seeded random values).
        """
        if self.item_factors.shape[1] != als.factors:
            raise ValueError(
                f"starting factors have {self.item_factors.shape[1]} dimensions; "
                f"the model has {als.factors}"
            )
        rng = np.random.default_rng(als.random_state)
        als.user_factors = _placed(self.readers, self.user_factors, readers, rng)
        als.item_factors = _placed(self.books, self.item_factors, books, rng)
        als.iterations = min(als.iterations, WARM_START_ITERATIONS)


def _placed(known: IdMap, factors: np.ndarray, ids: IdMap, rng: np.random.Generator) -> np.ndarray:
    """Rows of `factors` for `ids` (by id), small random rows for ids `known` lacks."""
    placed = rng.random((len(ids), factors.shape[1]), dtype=np.float32) * np.float32(0.01)
    rows = known.index(ids.ids)
    placed[rows >= 0] = factors[rows[rows >= 0]]
    return placed


class WarmStartable(ExplainableRecommender):
    """A recommender built on implicit's ALS whose next fit can start from earlier factors."""

    factors: int
    regularization: float
    alpha: float
    iterations: int
    random_state: int | None
    als_: AlternatingLeastSquares
    _start: StartingFactors | None = None

    def starting_factors(self) -> StartingFactors:
        """This fit's ALS factors by id, for a later fit to start from."""
        self._check_fitted()
        return StartingFactors(
            self.readers_, self.column_ids(), self.als_.user_factors, self.als_.item_factors
        )

    def start_next_fit_from(self, start: StartingFactors) -> Self:
        """Let the next fit's ALS start from `start` (with `WARM_START_ITERATIONS`); the fits
        after it start from random factors again."""
        self._start = start
        return self

    def _new_als(self) -> AlternatingLeastSquares:
        return implicit_als(self)

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        """The readers' ALS factors go with them (a fresh implicit object: no stale caches)."""
        als = self._new_als()
        als.user_factors = self.als_.user_factors[keep]
        als.item_factors = self.als_.item_factors
        self.als_ = als

    def _fit_als(self, matrix: sparse.csr_matrix, readers: IdMap, books: IdMap) -> None:
        """Fit `als_` on the reader x book `matrix`, from the starting factors if given."""
        start, self._start = self._start, None
        self.als_ = self._new_als()
        if start is not None:
            start.place(self.als_, readers, books)
        self.als_.fit(matrix, show_progress=False)
        self.als_.iterations = self.iterations


class ALSRecommender(WarmStartable):
    """Matrix factorisation of the weighted reader x book matrix (implicit, CPU)."""

    name = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        bm25: bool = False,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 365.0,
        min_pair_support: int = 3,
        random_state: int | None = None,
    ) -> None:
        check_min_pair_support(min_pair_support)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.bm25 = bm25
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support
        self.random_state = random_state

    def _fit_model(self, data: TrainingData) -> None:
        self.length_norm_ = bm25_length_norm(data.matrix, self.bm25_b)
        self._fit_als(self._confidence(data.matrix), data.readers, data.books)

    def _prepare(self) -> None:
        super()._prepare()
        # fold-in solves a small system per reader: OpenMP start-up would cost 300x that
        self.als_.num_threads = 1

    def _confidence(self, rows: sparse.csr_matrix) -> sparse.csr_matrix:
        """Training-time weighting of reader rows (BM25 if enabled); implicit applies alpha."""
        if self.bm25:
            return bm25_rows(rows, self.length_norm_, self.bm25_k1)
        return rows.tocsr().astype(np.float32)

    def _reader_factors(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        factors = np.zeros((rows.shape[0], self.als_.item_factors.shape[1]), dtype=np.float32)
        stored = (reader_index >= 0) & ~folded
        factors[stored] = self.als_.user_factors[reader_index[stored]]
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            factors[fresh] = self.als_.recalculate_user(fresh, self._confidence(rows[fresh]))
        return factors

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        factors = self._reader_factors(rows, reader_index, folded)
        return factors @ self.als_.item_factors.T

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        items = self.als_.item_factors
        norms = np.linalg.norm(items, axis=1) + 1e-12
        return (items[others] @ items[book]) / (norms[others] * norms[book])

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        _, top, _ = self.als_.explain(0, self._confidence(row), book, N=row.nnz)
        contributions = np.zeros(row.nnz)
        position = {int(item): j for j, item in enumerate(row.indices)}
        for item, score in top:
            contributions[position[int(item)]] = score
        return contributions

    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.als_.user_factors,
            "item_factors": self.als_.item_factors,
            "length_norm": self.length_norm_,
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.als_ = self._new_als()
        self.als_.user_factors = arrays["user_factors"]
        self.als_.item_factors = arrays["item_factors"]
        self.length_norm_ = arrays["length_norm"]


class PlainALSRecommender(ALSRecommender):
    """The baseline to beat: implicit's ALS with implicit's own defaults on raw loan counts.

    No recency decay, no repeat damping, no BM25; every event counts as in the
    other models' weighting only through its event weight.
    """

    name = "als_default"
    damp_repeats = False

    def __init__(
        self,
        *,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        bm25: bool = False,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = None,
        min_pair_support: int = 3,
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            bm25=bm25,
            bm25_k1=bm25_k1,
            bm25_b=bm25_b,
            event_weights=event_weights,
            half_life_days=half_life_days,
            min_pair_support=min_pair_support,
            random_state=random_state,
        )
