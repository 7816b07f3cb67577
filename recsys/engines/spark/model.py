"""The consortium model: what Spark learns (`training.learn`), served through the model contract.

Fitting runs on Spark (`fit(dataset)` hands the Dataset to Spark through Parquet;
`fit_frames` takes Spark DataFrames read from the store, which never pass through pandas).
Serving needs no Spark: the learnt arrays are numpy, saved in the bundle like every model's.

- **Readers' lists** are the ALS part: a reader's factors (folded in with Spark's own normal
  equations for loans newer than the model) times each work's factors. A work fewer than
  `min_pair_support` readers borrowed has no factors, and a reader's rarely borrowed books do
  not count in their fold-in, so no list links a reader to books through a few others' loans.
- **Per-book lists** are co-borrowing (either order, normalised by readers) plus catalog
  content, over the works linked to the book by at least `min_pair_support` distinct readers.
- **Works, not records**: the records of one work (editions, and the records member libraries
  keep for the same title) are one item for ALS and the pair counts, and one column of the
  served matrices (`ranking.RankingRecommender`): every record of a work gets its work's score,
  lists show one record per work, and the list pipeline picks the one the reader's library
  holds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.features import content_matrix
from recsys.models.matrix import IdMap, column_counts, csr_restore, csr_state, supported_books
from recsys.models.ranking import (
    ExplainableRecommender,
    TrainingData,
    _work_index,
    check_min_pair_support,
    work_records,
)
from recsys.models.weighting import check_event_weights, check_half_life

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from recsys.engines.spark.training import TrainingParams


class SparkALSRecommender(ExplainableRecommender):
    """ALS and k-anonymous co-borrowing over works, trained on Spark; see the module docstring."""

    name = "spark_als"
    private_lists = True

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 10.0,
        iterations: int = 5,
        half_life_days: float | None = 180.0,
        popularity_half_life_days: float | None = 60.0,
        event_weights: dict[str, float] | None = None,
        sequence_window: int | None = 50,
        min_pair_support: int = 3,
        pool_libraries: list[str] | None = None,
        blocks: int | None = None,
        random_state: int | None = None,
    ) -> None:
        check_min_pair_support(min_pair_support)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.half_life_days = half_life_days
        self.popularity_half_life_days = popularity_half_life_days
        self.event_weights = event_weights
        self.sequence_window = sequence_window
        self.min_pair_support = min_pair_support
        self.pool_libraries = pool_libraries
        self.blocks = blocks
        self.random_state = random_state

    # ---------------------------------------------------------------------------- fitting
    def _fit(self, dataset: Dataset, *, similar_books: bool) -> Self:
        """Hand `dataset` to Spark through a Parquet file, then `fit_frames`."""
        from recsys.engines.spark.frames import write_interactions
        from recsys.engines.spark.session import active_session, work_dir

        spark = active_session()
        with tempfile.TemporaryDirectory(dir=work_dir(spark), prefix="dataset-") as folder:
            path = write_interactions(dataset.interactions, Path(folder) / "interactions")
            interactions = spark.read.parquet(str(path))
            return self.fit_frames(
                spark, interactions, dataset.catalog, similar_books=similar_books
            )

    def fit_frames(
        self,
        spark: SparkSession,
        interactions: DataFrame,
        catalog: pd.DataFrame,
        *,
        similar_books: bool = True,
    ) -> Self:
        """Fit on Spark `interactions` (`training.INTERACTION_COLUMNS`) and the `catalog`.

        The model knows every catalogued record and every record a reader borrowed;
        `similar_books` False skips the pair counts (the model then only makes readers' lists).
        """
        from recsys.engines.spark.session import work_dir
        from recsys.engines.spark.training import borrowed_books_outside, learn

        params = self._training_params()
        with tempfile.TemporaryDirectory(dir=work_dir(spark), prefix="scratch-") as folder:
            scratch = Path(folder)
            catalogued = IdMap(pd.unique(catalog[C.BOOK_ID].astype(str)))
            extra = borrowed_books_outside(spark, interactions, catalogued, scratch)
            books = IdMap([*catalogued.ids.tolist(), *extra])
            works = _work_index(catalog, books)
            learned = learn(spark, interactions, books, works, params, scratch, pairs=similar_books)
        self.readers_ = IdMap(learned.reader_ids)
        self.books_ = books
        self.works_ = works
        self.reference_time_ = learned.reference_time
        self.half_life_days_ = self.half_life_days  # Spark trains with the constructor's
        self.user_factors_ = learned.user_factors
        self.work_factors_ = learned.work_factors
        self.links_ = learned.links
        self.sequence_ = learned.sequence
        content = (
            content_matrix(catalog, books)
            if similar_books
            else sparse.csr_matrix((len(books), 0), dtype=np.float32)
        )
        self._by_work(learned.matrix, learned.popularity, content)
        self._prepare()
        return self

    def _by_work(
        self, matrix: sparse.csr_matrix, popularity: np.ndarray, content: sparse.csr_matrix
    ) -> None:
        """Make a column per work of Spark's record columns (readers x records `matrix`,
        `popularity` and `content` per record): a reader's record weights summed per work, as
        ALS was trained; a work's content is its usual record's."""
        record_work = sparse.csr_matrix(
            (
                np.ones(len(self.works_), dtype=np.float32),
                (np.arange(len(self.works_)), self.works_),
            ),
            shape=(len(self.works_), len(self.work_factors_)),
        )
        self.columns_ = self.works_
        self.column_books_ = work_records(self.works_, column_counts(matrix))
        self.matrix_ = (matrix @ record_work).tocsr()
        self.popularity_ = np.asarray(record_work.T @ popularity, dtype=np.float64).ravel()
        self.content_ = content[self.column_books_]

    def _training_params(self) -> TrainingParams:
        from recsys.engines.spark.training import TrainingParams

        check_min_pair_support(self.min_pair_support)
        check_event_weights(self.event_weights)
        check_half_life(self.half_life_days)
        check_half_life(self.popularity_half_life_days)
        return TrainingParams(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            half_life_days=self.half_life_days,
            popularity_half_life_days=self.popularity_half_life_days,
            event_weights=self.event_weights,
            sequence_window=self.sequence_window,
            min_pair_support=self.min_pair_support,
            pool_libraries=tuple(sorted(self.pool_libraries)) if self.pool_libraries else None,
            blocks=self.blocks,
            seed=0 if self.random_state is None else self.random_state,
        )

    def _fit_model(self, data: TrainingData) -> None:
        """Not used: this model learns on Spark (`fit_frames`), not from numpy training data."""
        raise TypeError(f"{type(self).__name__} fits on Spark: call fit(dataset) or fit_frames")

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        """The readers' ALS factors go with them; as in `fit`, a work now borrowed by fewer
        than k of the readers left has no factors."""
        self.user_factors_ = self.user_factors_[keep]
        supported = supported_books(self.matrix_.tocsc(), self.min_pair_support)
        self.work_factors_[~supported] = 0.0

    def _prepare(self) -> None:
        super()._prepare()
        self.supported_ = np.abs(self.work_factors_).sum(axis=1) > 0
        self.gram_ = self.work_factors_.T.astype(np.float64) @ self.work_factors_.astype(np.float64)
        if self.links_ is not None:  # a work with readers' links counts as borrowed
            self.borrowed_ = self.borrowed_ | (np.diff(self.links_.indptr) > 0)
        self.co_borrowing_ = (
            None if self.sequence_ is None else (self.sequence_ + self.sequence_.T).tocsr()
        )

    # ---------------------------------------------------------------------------- scoring
    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        factors = np.zeros((rows.shape[0], self.factors), dtype=np.float32)
        stored = (reader_index >= 0) & ~folded
        factors[stored] = self.user_factors_[reader_index[stored]]
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            factors[fresh] = self._fold_in(rows[fresh])
        return factors @ self.work_factors_.T

    def _fold_in(self, per_work: sparse.csr_matrix) -> np.ndarray:
        """Readers' factors from their rows (per work), solving the normal equations Spark's
        implicit ALS solves: ``(Y'Y + Y'(C - I)Y + regularization * n I) x = Y'C p`` over the
        works with factors, where ``C = 1 + alpha * r`` and n is how many such works."""
        items = self.work_factors_.astype(np.float64)
        identity = np.eye(self.factors)
        out = np.zeros((per_work.shape[0], self.factors), dtype=np.float32)
        for r in range(per_work.shape[0]):
            start, end = per_work.indptr[r], per_work.indptr[r + 1]
            works, ratings = per_work.indices[start:end], per_work.data[start:end]
            keep = self.supported_[works] & (ratings > 0)
            works, ratings = works[keep], ratings[keep].astype(np.float64)
            if len(works) == 0:
                continue
            confidence = self.alpha * ratings
            chosen = items[works]
            system = (
                self.gram_
                + (chosen.T * confidence) @ chosen
                + self.regularization * len(works) * identity
            )
            out[r] = np.linalg.solve(system, chosen.T @ (1.0 + confidence))
        return out

    def _neighbours(self, book: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The works readers linked to this book's work (see `similar_books`)."""
        if not self.borrowed_[book]:
            return super()._neighbours(book)
        links = self._check_links()
        linked = links.indices[links.indptr[book] : links.indptr[book + 1]]
        support = links.data[links.indptr[book] : links.indptr[book + 1]].astype(np.float64)
        fill = np.zeros(self.n_columns)
        fill[linked] = support / max(support.max(initial=0.0), 1.0)
        return linked, self._pair_scores(book, linked), fill

    def _co_borrowing(self, work: int, others: np.ndarray) -> np.ndarray:
        """Readers' co-borrowing of `work` and each of the works `others` (either order)."""
        matrix = self.co_borrowing_
        if matrix is None:
            return np.zeros(len(others))
        row = np.zeros(matrix.shape[1])
        start, end = matrix.indptr[work], matrix.indptr[work + 1]
        row[matrix.indices[start:end]] = matrix.data[start:end]
        return row[others]

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        co = self._co_borrowing(book, others)
        content = self._content_pair_scores(book, others)
        return co / max(co.max(initial=0.0), 1e-12) + 0.5 * content

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        """The reader's books weighted by their co-borrowing with `book`, plus content."""
        weights = row.data.astype(np.float64)
        co = self._co_borrowing(book, row.indices)
        content = self._content_pair_scores(book, row.indices)
        return sum(weights * part / max(part.max(initial=0.0), 1e-12) for part in (co, content))

    # ------------------------------------------------------------------------ persistence
    def _model_state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors_, "work_factors": self.work_factors_}
        if self.sequence_ is not None:
            state.update(csr_state("sequence", self.sequence_))
        return state

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.work_factors_ = arrays["work_factors"]
        self.sequence_ = csr_restore("sequence", arrays) if "sequence.shape" in arrays else None
        if self.n_columns != len(self.work_factors_):  # saved with a column per record
            self._by_work(self.matrix_, self.popularity_, self.content_)
