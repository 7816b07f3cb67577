"""The machinery every recommender shares: training matrix, filters, exact-k lists, fallbacks.

Subclasses only score books (`_scores`, `_pair_scores`); this module turns scores into lists that
keep the contract: exactly k rows whenever k eligible books exist (ties and short collaborative
lists are filled by popularity), never two editions of one work, never a work the reader already
has (in any edition) when `exclude_seen`, popularity for readers the model does not know, and
`history` folded in without a retrain. For collaborative models, two borrowed books are linked in
`similar_books` only when at least `min_pair_support` distinct readers borrowed both.

Works, not records: every model learns from the records of a work pooled (editions, reprints,
copies catalogued twice). A model's matrices have one column per work (`columns_`: each record's
column; `column_books_`: each column's record, the work's record most readers borrowed), and a
reader's interactions with any record of a work are one (reader, work) pair, so pair counts,
neighbours, popularity, sequences and factors are per work, and the k rule counts the distinct
readers of the work: a reader of two editions counts once. Scoring and picking happen per work
(a consortium's catalog may hold a record of each work per member: ten times the columns), and
a list names one allowed record per work: the work's usual record where allowed, else another
(the list pipeline then picks which edition to show, `recsys.lists`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback
from recsys.data.dataset import Dataset
from recsys.exceptions import NotFittedError
from recsys.models.base import (
    RECOMMEND_COLUMNS,
    SIMILAR_COLUMNS,
    Recommender,
    check_k,
    empty_recommendations,
    empty_similar,
)
from recsys.models.features import content_matrix
from recsys.models.matrix import (
    IdMap,
    add_rows,
    build_matrix,
    column_counts,
    csr_restore,
    csr_state,
    map_blocks,
)
from recsys.models.top import largest
from recsys.models.weighting import compensated_sums, event_weights, latest_time

#: Popularity breaks ties with a weight far below any real score difference.
TIE = 1e-9
BATCH_READERS = 256
#: Dense readers x books cells scored at once (each part is one float64 array of this size).
BATCH_CELLS = 1 << 23


def batch_readers(n_books: int, most: int = BATCH_READERS) -> int:
    """Readers scored per batch: at most `most`, fewer for a large catalog so that the dense
    per-part score arrays stay near `BATCH_CELLS` cells (64 MiB) each."""
    return max(1, min(most, BATCH_CELLS // max(n_books, 1)))


def check_min_pair_support(value: int) -> int:
    """Refuse a support threshold that would let a list reveal a single reader."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
        raise ValueError(
            "min_pair_support must be an integer of at least 2, so that no similar-books list "
            f"reveals what one reader borrowed; got {value!r}"
        )
    return int(value)


class Pairs:
    """The (reader, book) pair of each interaction, grouped once per Dataset
    (`Dataset.pair_codes`, shared by every fit on that Dataset), and the books' matrix columns.

    A pair the reader said they are not interested in (`Feedback.NOT_INTERESTED`) is
    `dismissed`: it sums to nothing, whatever else the reader did with the book.

    The training matrix, every re-weighting of it (other half-lives) and the pair support only
    re-sum per pair: grouping string ids costs far more than summing, at 10 million loans
    a minute per grouping. Sums are pandas' (compensated) group sums in row order, the same bit
    for bit as the plain pandas grouping the tests keep as reference.

    With `columns` (each book's column: its work's), a reader's pairs with records of one
    work are merged into one pair (its `book_code` is the first of them): everything summed or
    counted per pair is then per (reader, work). Without, each book is its own column.
    """

    def __init__(self, dataset: Dataset, books: IdMap, columns: np.ndarray | None = None) -> None:
        pairs = dataset.pair_codes  # a missing id is no pair, as in pandas' groupby
        self.known = pairs.known
        self.group = pairs.group
        self.reader_code, self.book_code = pairs.readers, pairs.books
        self.reader_ids = dataset.id_codes.reader_ids
        self.book_column = books.index(dataset.id_codes.book_ids)
        self.n_books = len(books)  # the matrices' columns
        if columns is not None:
            self._pool(columns)
        self.dismissed = np.zeros(len(self.reader_code), dtype=bool)
        if C.EVENT in dataset.interactions:
            events = dataset.interactions[C.EVENT]
            marked = (events == Feedback.NOT_INTERESTED).to_numpy()[self.known]
            self.dismissed[self.group[marked]] = True

    def _pool(self, columns: np.ndarray) -> None:
        """Point every book at its work's column and merge each reader's pairs with records of
        one work (pairs stay in order of first appearance)."""
        own = self.book_column
        self.book_column = np.where(own >= 0, columns[np.maximum(own, 0)], -1)
        self.n_books = int(columns.max(initial=-1)) + 1
        if np.bincount(columns).max(initial=0) <= 1:
            return  # every work has one record: no two pairs to merge
        column = self.book_column[self.book_code]
        # -1 (a book outside `books`) stays a pair of its own
        key = np.where(
            column >= 0,
            self.reader_code.astype(np.int64) * self.n_books + column,
            -1 - np.arange(len(column), dtype=np.int64),
        )
        merged, _ = pd.factorize(key)
        first = np.empty(int(merged.max(initial=-1)) + 1, dtype=np.int64)
        first[merged[::-1]] = np.arange(len(merged) - 1, -1, -1)
        self.group = merged.astype(np.int32)[self.group]
        self.reader_code, self.book_code = self.reader_code[first], self.book_code[first]

    def sums(self, weights: np.ndarray, *, damp: bool) -> np.ndarray:
        """Per-pair sums of `weights` (one per interaction row), 0 for a dismissed pair; `damp`
        applies ``log2(1 + sum)``, so one loan stays 1.0."""
        summed = (
            pd.Series(np.asarray(weights)[self.known])
            .groupby(self.group, sort=False)
            .sum()
            .to_numpy()
        )
        if self.dismissed.any():
            summed = np.where(self.dismissed, 0.0, summed)
        return np.log2(1.0 + summed) if damp else summed

    def dismissed_matrix(self, readers: IdMap) -> sparse.csr_matrix:
        """Reader x book matrix of 1 at each dismissed pair of the readers `readers` knows."""
        rows = readers.index(self.reader_ids)[self.reader_code]
        keep = self.dismissed & (rows >= 0)
        return build_matrix(
            rows[keep],
            self.book_column[self.book_code[keep]],
            np.ones(int(keep.sum())),
            (len(readers), self.n_books),
        )

    def readers_of(self, sums: np.ndarray) -> IdMap:
        """Readers with a positive pair, in order of first appearance (the training rows)."""
        codes = pd.unique(self.reader_code[sums > 0])
        return IdMap(np.asarray(self.reader_ids, dtype=object)[codes])

    def matrix(self, sums: np.ndarray, readers: IdMap) -> sparse.csr_matrix:
        """Reader x book matrix of the positive `sums`; readers `readers` does not know (all
        their weight faded) get no row."""
        rows = readers.index(self.reader_ids)[self.reader_code]
        keep = (sums > 0) & (rows >= 0)
        return build_matrix(
            rows[keep],
            self.book_column[self.book_code[keep]],
            sums[keep],
            (len(readers), self.n_books),
        )


@dataclass(frozen=True)
class TrainingData:
    """What `fit` hands to a model: the weighted matrix, its id maps (`books`: each column's
    record) and the grouped pairs."""

    dataset: Dataset
    matrix: sparse.csr_matrix
    readers: IdMap
    books: IdMap
    reference_time: float | None
    pairs: Pairs


class RankingRecommender(Recommender):
    """Base of all recommenders here; see the module docstring for what it guarantees."""

    #: Collaborative models link books through readers and obey `min_pair_support`.
    collaborative: ClassVar[bool] = True
    #: Damp repeat loans of one book (``log2(1 + weight)``); plain baselines use raw counts.
    damp_repeats: ClassVar[bool] = True
    #: Readers' lists use the catalog-metadata vectors (else only similar books and saving do).
    content_for_readers: ClassVar[bool] = False
    #: Matrices `_prepare` derives from the fitted state (attribute name without the trailing
    #: underscore) that `save` writes too: a loaded model maps them (`recsys.array_files`)
    #: instead of deriving a private copy in every process that loads it.
    saved_derivations: ClassVar[tuple[str, ...]] = ("content_t",)
    #: The saved derivations while `_prepare` runs after a load (see `_derivation`).
    _loaded_derivations: Mapping[str, sparse.csr_matrix] = MappingProxyType({})

    event_weights: dict[str, float] | None
    half_life_days: float | None
    min_pair_support: int

    # ----------------------------------------------------------------------------- fitting
    def fit(self, dataset: Dataset) -> Self:
        """Build the shared state (matrix, id maps, works, content, pair support), then fit."""
        return self._fit(dataset, similar_books=True)

    def fit_for_reader_lists(self, dataset: Dataset) -> Self:
        """`fit` without the pair support (a book x book product, minutes at 10 million loans)
        and, unless readers' lists use it, the content matrix: the model scores readers but
        refuses `similar_books` and `save`."""
        return self._fit(dataset, similar_books=False)

    def _fit(self, dataset: Dataset, *, similar_books: bool) -> Self:
        """`fit`, or `fit_for_reader_lists` without `similar_books`."""
        if self.collaborative:
            check_min_pair_support(self.min_pair_support)
        interactions = dataset.interactions
        reference = latest_time(interactions)
        self.half_life_days_ = self._training_half_life(dataset)
        weights = event_weights(
            interactions,
            event_weights=self.event_weights,
            half_life_days=self.half_life_days_,
            reference_time=reference,
        )
        books = IdMap(dataset.books.astype(str))
        self.works_ = _work_index(dataset.catalog, books)
        self.columns_ = self.works_  # one column per work
        self.column_books_ = work_records(self.works_, _readers_per_book(dataset, books))
        pairs = Pairs(dataset, books, self.columns_)
        sums = pairs.sums(weights, damp=self.damp_repeats)
        readers = pairs.readers_of(sums)
        matrix = pairs.matrix(sums, readers)
        self.readers_ = readers
        self.books_ = books
        self.matrix_ = matrix
        self.reference_time_ = reference
        self.popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        self.content_ = (
            content_matrix(dataset.catalog, books)[self.column_books_]
            if similar_books or self.content_for_readers
            else sparse.csr_matrix((self.n_columns, 0), dtype=np.float32)
        )
        self.links_ = (
            pair_support(interactions, pairs, self.min_pair_support)
            if self.collaborative and similar_books
            else None
        )
        data = TrainingData(dataset, matrix, readers, self.column_ids(), reference, pairs)
        self._fit_model(data)
        self._prepare()
        return self

    def _training_half_life(self, dataset: Dataset) -> float | None:
        """The half-life the training matrix and the readers' rows decay with: the
        constructor's, unless a model chooses its recency on validation carved from `dataset`."""
        return self.half_life_days

    @property
    def n_columns(self) -> int:
        """Columns of the model's matrices: one per work (per record in older bundles)."""
        return len(self.column_books_)

    def column_ids(self) -> IdMap:
        """Each column's record id: how a later fit finds a work's column again."""
        return IdMap(self.books_.ids[self.column_books_])

    def _prepare(self) -> None:
        """Derived lookups, rebuilt after fit and load. The tie-break `fill_` orders columns by
        popularity; `every_record_` is each column's record as a list names it."""
        self.column_works_ = self.works_[self.column_books_]
        rank = np.empty(self.n_columns, dtype=np.int64)
        rank[np.argsort(self.popularity_, kind="stable")] = np.arange(self.n_columns)
        self.fill_ = rank / max(self.n_columns, 1)
        self.borrowed_ = column_counts(self.matrix_) > 0
        # a column whose record is scored elsewhere (older bundles kept such columns) lists none
        self.listed_ = self.columns_[self.column_books_] == np.arange(self.n_columns)
        self.every_record_ = np.where(self.listed_, self.column_books_, -1)
        # each catalog feature's books: a book's similarity to the others then touches only the
        # books sharing one of its features, not the whole content matrix
        self.content_t_ = self._derivation("content_t", lambda: self.content_.T.tocsr())

    def _columns(self, books: Iterable[str]) -> np.ndarray:
        """The column each of `books` is scored in (its work's; -1: unknown)."""
        index = self.books_.index(books)
        return np.where(index >= 0, self.columns_[np.maximum(index, 0)], -1)

    def _derivation(self, name: str, derive: Callable[[], sparse.csr_matrix]) -> sparse.csr_matrix:
        """The derived matrix `name` (one of `saved_derivations`) as saved with the model, else
        (after a fit, or from a bundle saved without it) `derive()`."""
        saved = self._loaded_derivations.get(name)
        return derive() if saved is None else saved

    @abstractmethod
    def _fit_model(self, data: TrainingData) -> None:
        """Fit the model-specific part on the shared training data."""

    # ---------------------------------------------------------------------------- scoring
    @abstractmethod
    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        """Dense scores (readers x books) for readers with a history row.

        `reader_index` is the training row (-1 for a reader known only from `history`);
        `folded` marks rows that include interactions newer than the training data.
        """

    @abstractmethod
    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        """Similarity of book index `book` to each of `others`."""

    def _fallback_scores(self, reader_index: int) -> np.ndarray:
        """Scores for a reader with no usable history: popularity."""
        return self.popularity_

    # ---------------------------------------------------------------------------- public
    def recommend(
        self,
        readers: Sequence[str],
        *,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        self._check_fitted()
        k = check_k(k)
        readers = [str(r) for r in readers]
        if not readers:
            return empty_recommendations()
        records = self._records(candidates, exclude)
        index, rows, folded = self.reader_rows(readers, history)
        personal = np.diff(rows.indptr) > 0
        out_readers: list[str] = []
        out_books: list[np.ndarray] = []
        out_scores: list[np.ndarray] = []
        allowed = records >= 0
        step = batch_readers(self.n_columns)
        for start in range(0, len(readers), step):
            batch = np.arange(start, min(start + step, len(readers)))
            wanted = batch[personal[batch]]
            scored = (
                self._scores(rows[wanted], index[wanted], folded[wanted]) if len(wanted) else None
            )
            position = {int(r): j for j, r in enumerate(wanted)}
            for r in batch:
                j = position.get(int(r))
                scores = (
                    scored[j]
                    if scored is not None and j is not None
                    else (self._fallback_scores(int(index[r])))
                )
                mask = allowed
                if exclude_seen and personal[r]:
                    own = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
                    mask = allowed & ~self._seen_works(own)
                chosen = self._pick(scores, mask, k)
                out_readers.extend([readers[r]] * len(chosen))
                out_books.append(records[chosen])
                out_scores.append(np.asarray(scores, dtype=np.float64)[chosen])
        return _frame(RECOMMEND_COLUMNS, out_readers, self.books_.ids, out_books, out_scores)

    def similar_books(
        self, books: Sequence[str], *, k: int = 10, candidates: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Top-k similar books; books unknown to the model and catalog get no rows.

        Collaborative models link a borrowed book only to books that at least
        `min_pair_support` distinct readers borrowed together with it; a book nobody borrowed
        yet gets its catalog-metadata neighbours. Every record of a work gets its work's list.
        """
        self._check_fitted()
        if self.collaborative:
            self._check_links()
        k = check_k(k)
        books = [str(b) for b in books]
        if not books:
            return empty_similar()
        records = self._records(candidates, None)
        out_queries: list[str] = []
        out_books: list[np.ndarray] = []
        out_scores: list[np.ndarray] = []
        for book_id, book in zip(books, self._columns(books), strict=True):
            if book < 0:
                continue
            others, scores, fill = self._neighbours(int(book))
            full = np.zeros(self.n_columns)
            full[others] = scores
            mask = np.zeros(self.n_columns, dtype=bool)
            mask[others] = True
            mask &= (records >= 0) & (self.column_works_ != self.column_works_[book])
            chosen = self._pick(full, mask, k, fill=fill)
            out_queries.extend([book_id] * len(chosen))
            out_books.append(records[chosen])
            out_scores.append(full[chosen])
        return _frame(SIMILAR_COLUMNS, out_queries, self.books_.ids, out_books, out_scores)

    # ------------------------------------------------------------------- serving lookups
    @property
    def trained_until(self) -> float | None:
        self._check_fitted()
        return self.reference_time_

    def known_readers(self) -> np.ndarray:
        self._check_fitted()
        return self.readers_.ids

    def reader_row(self, reader: str) -> int | None:
        self._check_fitted()
        return self.readers_.position(reader)

    def training_books(self, reader: str) -> list[str]:
        self._check_fitted()
        row = self.readers_.index([str(reader)])[0]
        if row < 0:
            return []
        start, end = self.matrix_.indptr[row], self.matrix_.indptr[row + 1]
        columns = self.matrix_.indices[start:end]
        return [str(b) for b in self.books_.ids[self.column_books_[columns]].tolist()]

    def book_popularity(self, books: Sequence[str]) -> np.ndarray:
        """The popularity of each book's work; a work's other records just below its usual
        record (the one most of its readers borrowed), which the list pipeline then shows
        where neither the reader's library nor their language chooses."""
        self._check_fitted()
        index = self.books_.index(books)
        known = index >= 0
        column = self.columns_[np.maximum(index, 0)]
        popularity = np.where(known, self.popularity_[column], 0.0)
        other = known & (self.column_books_[column] != index) & (popularity > 0)
        return np.where(other, np.nextafter(popularity, -np.inf), popularity)

    def linked_by_readers(self, book: str) -> bool:
        self._check_fitted()
        index = self._columns([book])[0]
        return bool(self.collaborative and index >= 0 and self.borrowed_[index])

    def forget_readers(self, readers: Iterable[str]) -> int:
        """Drop the readers' ids, training rows and per-reader model arrays, then rebuild the
        lookups derived from the training rows (see `Recommender.forget_readers`)."""
        self._check_fitted()
        index = self.readers_.index([str(r) for r in readers])
        held = np.zeros(len(self.readers_), dtype=bool)
        held[index[index >= 0]] = True
        if not held.any():
            return 0
        keep = np.flatnonzero(~held)
        self.readers_ = IdMap(self.readers_.ids[keep])
        self.matrix_ = self.matrix_[keep]
        self._keep_reader_rows(keep)
        self._prepare()
        return int(held.sum())

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        """Keep only the training readers at `keep` in the model-specific per-reader arrays
        (none by default)."""

    # ---------------------------------------------------------------------------- helpers
    def reader_rows(
        self, readers: Sequence[str], history: pd.DataFrame | None
    ) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray]:
        """Training index, weighted row (training + folded history) and folded flag per reader."""
        index = self.readers_.index(readers)
        known = index >= 0
        select = sparse.csr_matrix(
            (np.ones(known.sum(), dtype=np.float32), (np.flatnonzero(known), index[known])),
            shape=(len(readers), len(self.readers_)),
        )
        rows = (select @ self.matrix_).tocsr()
        folded = np.zeros(len(readers), dtype=bool)
        if history is not None and not history.empty:
            extra = self._history_matrix(readers, history)
            folded = np.diff(extra.indptr) > 0
            rows = (rows + extra).tocsr()
        rows.sort_indices()
        return index, rows.astype(np.float32), folded

    def _history_matrix(self, readers: Sequence[str], history: pd.DataFrame) -> sparse.csr_matrix:
        """Weighted rows of `history` (same weighting as training), one per listed reader.

        Grouping is done on integer codes with numpy: for the one reader of a service request,
        pandas' grouping would cost more than scoring the whole catalog.
        """
        shape = (len(readers), self.n_columns)
        listed = pd.Index(readers)
        distinct = listed.unique()
        reader = distinct.get_indexer(pd.Index(history[C.READER_ID].astype(str)))
        book = self._columns(history[C.BOOK_ID].astype(str))
        keep = np.flatnonzero((reader >= 0) & (book >= 0))
        if len(keep) == 0:
            return sparse.csr_matrix(shape, dtype=np.float32)
        frame = history.iloc[keep]
        if C.EVENT not in frame:
            frame = frame.assign(**{C.EVENT: Events.LOAN})
        if C.TIMESTAMP not in frame:
            frame = frame.assign(**{C.TIMESTAMP: pd.Series(pd.NaT, index=frame.index)})
        weights = event_weights(
            frame,
            event_weights=self.event_weights,
            half_life_days=self.half_life_days_,
            reference_time=self.reference_time_,
        )
        n_columns = self.n_columns
        pairs, group = np.unique(reader[keep] * n_columns + book[keep], return_inverse=True)
        summed = compensated_sums(group, weights, len(pairs))
        if self.damp_repeats:
            summed = np.log2(1.0 + summed)
        positive = summed > 0
        pairs, summed = pairs[positive], summed[positive]
        pair_reader, pair_book = np.divmod(pairs, n_columns)
        # a reader listed twice gets the history on every listing
        listing = distinct.get_indexer(listed)
        order = np.argsort(listing, kind="stable")
        counts = np.bincount(listing, minlength=len(distinct))
        per_pair = counts[pair_reader]
        first = np.repeat((np.cumsum(counts) - counts)[pair_reader], per_pair)
        step = np.arange(per_pair.sum()) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
        return build_matrix(
            order[first + step], np.repeat(pair_book, per_pair), np.repeat(summed, per_pair), shape
        )

    def _records(
        self, candidates: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> np.ndarray:
        """Per column, the record a list names for it among the allowed books (-1: none): the
        column's own record where allowed, else the work's first allowed record (a member's
        candidates may hold another member's edition of the work)."""
        if candidates is None and exclude is None:
            return self.every_record_
        if candidates is None:
            allowed = np.ones(len(self.books_), dtype=bool)
        else:
            allowed = np.zeros(len(self.books_), dtype=bool)
            index = self.books_.index([str(b) for b in candidates])
            allowed[index[index >= 0]] = True
        if exclude is not None:
            index = self.books_.index([str(b) for b in exclude])
            allowed[index[index >= 0]] = False
        books = np.flatnonzero(allowed)
        records = np.full(self.n_columns, -1, dtype=np.int64)
        columns, first = np.unique(self.columns_[books], return_index=True)
        records[columns] = books[first]
        own = self.listed_ & allowed[self.column_books_]
        records[own] = self.column_books_[own]
        return records

    def _seen_works(self, columns: np.ndarray) -> np.ndarray:
        """Mask of the columns of every work among `columns`."""
        seen = np.zeros(int(self.works_.max(initial=-1)) + 1, dtype=bool)
        seen[self.column_works_[columns]] = True
        return seen[self.column_works_]

    def _pick(
        self, scores: np.ndarray, mask: np.ndarray, k: int, fill: np.ndarray | None = None
    ) -> np.ndarray:
        """Columns of the top-k allowed works, ties broken by `fill`."""
        available = int(mask.sum())
        if available == 0:
            return np.empty(0, dtype=np.int64)
        key = np.array(scores, dtype=np.float64)  # a copy: changed in place, pass by pass
        np.nan_to_num(key, copy=False, nan=0.0)
        key += TIE * (self.fill_ if fill is None else fill)
        key[~mask] = -np.inf
        size = min(available, 2 * k + 16)
        while True:
            top = largest(key, size)
            _, first = np.unique(self.column_works_[top], return_index=True)
            chosen = top[np.sort(first)][:k]
            if len(chosen) == k or size == available:
                return chosen
            size = min(available, size * 4)

    def _neighbours(self, book: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Candidate similar books with scores and an optional tie-break (see similar_books)."""
        if self.collaborative and self.borrowed_[book]:
            others, support = self._linked(book)
            return others, self._pair_scores(book, others), support
        others = np.flatnonzero(np.arange(self.n_columns) != book)
        return others, self._content_pair_scores(book, others), None

    def _linked(self, book: int) -> tuple[np.ndarray, np.ndarray]:
        """The books at least k readers borrowed with `book`, and per column their readers
        relative to the most (0 for the others): the tie-break among equal scores."""
        row = self._check_links()
        others = row.indices[row.indptr[book] : row.indptr[book + 1]]
        support = np.zeros(self.n_columns)
        support[others] = row.data[row.indptr[book] : row.indptr[book + 1]]
        return others, support / max(support.max(), 1.0)

    def _content_pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        """Catalog similarity of `book` to each of `others`."""
        return self._content_similarity(book)[others].astype(np.float64)

    def _content_similarity(self, book: int) -> np.ndarray:
        """Catalog similarity of `book` to every column: the dot products of their content
        rows, summed in the order of `book`'s features as a sparse product sums them."""
        content = self.content_
        similarity = np.zeros(self.n_columns, dtype=content.dtype)
        start, end = content.indptr[book], content.indptr[book + 1]
        add_rows(similarity, content.indices[start:end], content.data[start:end], self.content_t_)
        return similarity

    # ------------------------------------------------------------------------ persistence
    def _is_fitted(self) -> bool:
        return hasattr(self, "matrix_")

    def _check_links(self) -> sparse.csr_matrix:
        """A collaborative model's book-to-book links; refused on a model fitted for readers'
        lists only."""
        self._check_fitted()
        if self.links_ is None:
            raise NotFittedError(
                f"{type(self).__name__} was fitted for readers' lists only "
                "(fit_for_reader_lists), without the links that similar books and saving need; "
                "call fit(dataset)"
            )
        return self.links_

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            **self.readers_.state("readers"),
            **self.books_.state("books"),
            "works": self.works_,
            "columns": self.columns_,
            "column_books": self.column_books_,
            "popularity": self.popularity_,
            "reference_time": np.asarray(
                [np.nan if self.reference_time_ is None else self.reference_time_]
            ),
            # none is an empty array, not NaN: the gate refuses a bundle with non-finite numbers
            "half_life_days": np.asarray(
                [] if self.half_life_days_ is None else [self.half_life_days_], dtype=np.float64
            ),
            **csr_state("matrix", self.matrix_),
            **csr_state("content", self.content_),
        }
        if self.collaborative:
            arrays.update(csr_state("links", self._check_links()))
        arrays.update({f"model.{key}": value for key, value in self._model_state().items()})
        for name in self.saved_derivations:
            arrays.update(csr_state(f"derived.{name}", getattr(self, f"{name}_")))
        return arrays

    def _restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.readers_ = IdMap.from_state("readers", arrays)
        self.books_ = IdMap.from_state("books", arrays)
        self.works_ = arrays["works"]
        self.columns_, self.column_books_ = _saved_columns(arrays)
        self.popularity_ = arrays["popularity"]
        reference = float(arrays["reference_time"][0])
        self.reference_time_ = None if np.isnan(reference) else reference
        # bundles saved before models chose their recency decayed with the constructor's
        half_life = arrays.get("half_life_days")
        if half_life is None:
            self.half_life_days_ = self.half_life_days
        else:
            self.half_life_days_ = float(half_life[0]) if len(half_life) else None
        self.matrix_ = csr_restore("matrix", arrays)
        self.content_ = csr_restore("content", arrays)
        self.links_ = csr_restore("links", arrays) if self.collaborative else None
        self._restore_model(
            {key.removeprefix("model."): v for key, v in arrays.items() if key.startswith("model.")}
        )
        self._loaded_derivations = {
            name: csr_restore(f"derived.{name}", arrays)
            for name in self.saved_derivations
            if f"derived.{name}.shape" in arrays
        }
        try:
            self._prepare()
        finally:
            del self._loaded_derivations

    @abstractmethod
    def _model_state(self) -> dict[str, np.ndarray]:
        """Model-specific fitted arrays."""

    @abstractmethod
    def _restore_model(self, arrays: dict[str, Any]) -> None:
        """Inverse of `_model_state`."""


def work_records(works: np.ndarray, readers: np.ndarray) -> np.ndarray:
    """Per work (`works`' codes), the record that stands for it: the one most `readers`
    borrowed (ties: the first), the work's usual record."""
    order = np.lexsort((np.arange(len(works)), -readers, works))
    first = order[np.r_[True, works[order][1:] != works[order][:-1]]] if len(order) else order
    records = np.zeros(int(works.max(initial=-1)) + 1, dtype=np.int64)
    records[works[first]] = first
    return records


def _saved_columns(arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A saved model's columns per record and record per column. Bundles saved before the
    columns were works had a column per record: those saved when works were first pooled
    (`pooled`: each record's work's usual record) scored a work on its usual record's column,
    older ones kept every record apart."""
    if "columns" in arrays:
        return arrays["columns"], arrays["column_books"]
    every = np.arange(len(arrays["works"]))
    return arrays.get("pooled", every), every


def _readers_per_book(dataset: Dataset, books: IdMap) -> np.ndarray:
    """Distinct readers with an interaction per book of `books` (from the cached pair codes)."""
    pairs = dataset.pair_codes
    column = books.index(dataset.id_codes.book_ids)[pairs.books]
    return np.bincount(column[column >= 0], minlength=len(books))


def _work_index(catalog: pd.DataFrame, books: IdMap) -> np.ndarray:
    """A work number per book; a book without `work_id` is a work of its own."""
    keys = np.array(["book:" + book for book in books.ids.tolist()], dtype=object)
    if not catalog.empty and C.WORK_ID in catalog:
        rows = books.index(catalog[C.BOOK_ID].astype(str))
        work = catalog[C.WORK_ID].to_numpy(dtype=object)
        filled = (pd.Series(work).astype(str).str.strip() != "").to_numpy()
        has = (rows >= 0) & pd.notna(work) & filled
        keys[rows[has]] = np.array(["work:" + str(w) for w in work[has]], dtype=object)
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    return codes.astype(np.int64)


def pair_support(
    interactions: pd.DataFrame, pairs: Pairs, min_support: int, *, block: int = 2048
) -> sparse.csr_matrix:
    """Book x book counts of distinct readers who borrowed both, kept only where >= min_support.

    Only loan events (loan, renewal, hold) count: a view is not a borrowing. The counts are made
    `block` books at a time (on every core).
    """
    loans = pairs.known
    if C.EVENT in interactions:
        events = interactions[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS).to_numpy()
        loans = loans & events
    borrowed_pairs = np.unique(pairs.group[loans[pairs.known]])
    n_books = pairs.n_books
    if len(borrowed_pairs) == 0:
        return sparse.csr_matrix((n_books, n_books), dtype=np.int32)
    borrowed = sparse.csc_matrix(
        (
            np.ones(len(borrowed_pairs), dtype=np.int32),
            (
                pairs.reader_code[borrowed_pairs],
                pairs.book_column[pairs.book_code[borrowed_pairs]],
            ),
        ),
        shape=(len(pairs.reader_ids), n_books),
    )
    transposed = borrowed.T.tocsr()

    def supported(start: int) -> sparse.csr_matrix:
        """Rows ``start:start + block`` of the supported pairs right of the diagonal: the counts
        are symmetric, so each block multiplies only by the books after its own."""
        counts = (transposed[start : start + block] @ borrowed[:, start:]).tocoo()
        keep = (counts.data >= min_support) & (counts.col > counts.row)
        return sparse.csr_matrix(
            (counts.data[keep], (counts.row[keep], counts.col[keep] + start)),
            shape=(min(block, n_books - start), n_books),
        )

    upper = sparse.vstack(map_blocks(supported, range(0, n_books, block)), format="csr")
    links = (upper + upper.T).tocsr()
    links.sort_indices()
    return links.astype(np.int32, copy=False)


def _frame(
    columns: list[str],
    queries: list[str],
    ids: np.ndarray,
    chosen: list[np.ndarray],
    scores: list[np.ndarray],
) -> pd.DataFrame:
    if not queries:
        return empty_recommendations() if columns == RECOMMEND_COLUMNS else empty_similar()
    picked = np.concatenate(chosen)
    ranks = np.concatenate([np.arange(1, len(c) + 1) for c in chosen])
    return pd.DataFrame(
        {
            columns[0]: pd.Series(queries, dtype=object),
            columns[1]: pd.Series(ids[picked].tolist(), dtype=object),
            C.SCORE: np.concatenate(scores).astype(np.float64),
            C.RANK: ranks.astype(np.int64),
        }
    )


class ExplainableRecommender(RankingRecommender):
    """A recommender that can name the reader's own books behind each suggestion."""

    def explain(
        self,
        reader_id: str,
        books: Sequence[str],
        *,
        history: pd.DataFrame | None = None,
        n: int = 3,
    ) -> dict[str, list[str]]:
        """Up to `n` of the reader's own books that contributed most to each of `books`.

        A reader the model does not know (and who brings no `history`) gets empty lists, as does
        a book unknown to the model.
        """
        self._check_fitted()
        n = check_k(n)
        _, rows, _ = self.reader_rows([str(reader_id)], history)
        own = rows.indices
        result: dict[str, list[str]] = {}
        for book_id, book in zip(books, self._columns(books), strict=True):
            if book < 0 or len(own) == 0:
                result[str(book_id)] = []
                continue
            contributions = self._contributions(rows, int(book))
            order = np.argsort(-contributions, kind="stable")[:n]
            order = order[contributions[order] > 0]
            result[str(book_id)] = self.books_.ids[self.column_books_[own[order]]].tolist()
        return result

    @abstractmethod
    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        """Contribution of each book in the (1 x books) `row` to the score of `book`."""
