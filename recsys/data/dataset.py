"""The Dataset every recommender fits on: interactions plus the catalog and holdings.

Interactions hold loans, renewals, holds and (logged-in, consented) views of pseudonymous readers,
with `timestamp` as timezone-aware UTC datetimes. Views are a weaker signal than loans; models
weight events through `recsys.models.weighting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from recsys.columns import Columns as C

INTERACTION_COLUMNS = (C.READER_ID, C.BOOK_ID, C.EVENT, C.TIMESTAMP, C.LIBRARY_ID)
CATALOG_COLUMNS = (
    C.BOOK_ID,
    C.TITLE,
    C.AUTHOR,
    C.SUBJECTS,
    C.ISBN,
    C.LANGUAGE,
    C.AUDIENCE,
    C.YEAR,
    C.WORK_ID,
    C.FORMAT,
)
#: The catalog a model's bundle carries: the stored columns and each record's numbered series
#: (from its stored evidence, `recsys.db.queries.load_catalog`; a bundle made before has none).
SERVED_CATALOG_COLUMNS = (*CATALOG_COLUMNS, C.SERIES)
HOLDINGS_COLUMNS = (C.BOOK_ID, C.LIBRARY_ID, C.COPIES, C.AVAILABLE)


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})


@dataclass(frozen=True)
class IdCodes:
    """The interactions' reader and book ids as integer codes per row (-1 for a missing id),
    with the distinct ids in order of first appearance."""

    readers: np.ndarray
    reader_ids: pd.Index
    books: np.ndarray
    book_ids: pd.Index


@dataclass(frozen=True)
class PairCodes:
    """Each interaction's (reader, book) pair as an integer group, pairs in order of first
    appearance; rows without a reader or book id have no pair."""

    known: np.ndarray  # rows with both ids
    group: np.ndarray  # the pair of each known row
    readers: np.ndarray  # reader code of each pair
    books: np.ndarray  # book code of each pair


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(column.astype(str))
    return codes.astype(np.int32), pd.Index(uniques)


def _renumbered(codes: np.ndarray, ids: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """Codes of a part of the rows, renumbered in order of first appearance in that part (what
    factorizing the part's own strings gives), and the ids they now stand for."""
    renumbered = np.full(len(codes), -1, dtype=np.int32)
    present = codes >= 0
    new, old = pd.factorize(codes[present])
    renumbered[present] = new
    return renumbered, ids[old]


@dataclass(frozen=True)
class Dataset:
    """Interactions, catalog and holdings; ids are strings (reader ids are pseudonyms)."""

    interactions: pd.DataFrame
    catalog: pd.DataFrame = field(default_factory=lambda: empty_frame(CATALOG_COLUMNS))
    holdings: pd.DataFrame = field(default_factory=lambda: empty_frame(HOLDINGS_COLUMNS))

    def __post_init__(self) -> None:
        missing = [c for c in (C.READER_ID, C.BOOK_ID) if c not in self.interactions.columns]
        if missing:
            raise ValueError(f"interactions lack required columns {missing}")

    @classmethod
    def from_interactions(
        cls,
        interactions: pd.DataFrame,
        catalog: pd.DataFrame | None = None,
        holdings: pd.DataFrame | None = None,
    ) -> Dataset:
        """Build a Dataset, filling optional interaction columns with defaults."""
        frame = interactions.copy()
        frame[C.READER_ID] = frame[C.READER_ID].astype(str)
        frame[C.BOOK_ID] = frame[C.BOOK_ID].astype(str)
        if C.EVENT not in frame:
            frame[C.EVENT] = "loan"
        if C.TIMESTAMP not in frame:
            frame[C.TIMESTAMP] = pd.Timestamp("1970-01-01", tz="UTC")
        if C.LIBRARY_ID not in frame:
            frame[C.LIBRARY_ID] = None
        return cls(
            interactions=frame.reset_index(drop=True),
            catalog=catalog if catalog is not None else empty_frame(CATALOG_COLUMNS),
            holdings=holdings if holdings is not None else empty_frame(HOLDINGS_COLUMNS),
        )

    @cached_property
    def id_codes(self) -> IdCodes:
        """Integer codes of the reader and book ids, made once per Dataset: hashing ten million
        id strings takes seconds, and a nightly run fits and scores several models on one
        Dataset. (The interactions of a Dataset are never changed in place.)"""
        readers, reader_ids = _codes(self.interactions[C.READER_ID])
        books, book_ids = _codes(self.interactions[C.BOOK_ID])
        return IdCodes(readers, reader_ids, books, book_ids)

    @cached_property
    def pair_codes(self) -> PairCodes:
        """The (reader, book) pair groups, made once per Dataset: every model fitted on it groups
        its rows by pair, and grouping 15 million rows costs seconds."""
        codes = self.id_codes
        known = (codes.readers >= 0) & (codes.books >= 0)
        n_books = max(len(codes.book_ids), 1)
        key = codes.readers[known].astype(np.int64) * n_books + codes.books[known]
        group, keys = pd.factorize(key)
        readers, books = np.divmod(keys, n_books)
        # int32 halves what each cached Dataset holds (two are cached during a nightly fit)
        return PairCodes(
            known, group.astype(np.int32), readers.astype(np.int32), books.astype(np.int32)
        )

    def take(self, rows: np.ndarray) -> Dataset:
        """The interactions at positions `rows` (a holdout's training part), with the same
        catalog and holdings. Their id codes are this Dataset's, renumbered (made here if not
        yet): factorizing the part's id strings again cost 10 s at 10 million loans."""
        part = Dataset(
            interactions=self.interactions.iloc[rows].reset_index(drop=True),
            catalog=self.catalog,
            holdings=self.holdings,
        )
        codes = self.id_codes
        readers, reader_ids = _renumbered(codes.readers[rows], codes.reader_ids)
        books, book_ids = _renumbered(codes.books[rows], codes.book_ids)
        part.__dict__["id_codes"] = IdCodes(readers, reader_ids, books, book_ids)  # the cache
        return part

    def with_catalog(self, catalog: pd.DataFrame, holdings: pd.DataFrame) -> Dataset:
        """The same interactions, and their cached codes, with another catalog and holdings
        (an evaluation cut's catalog as of its moment)."""
        part = Dataset(interactions=self.interactions, catalog=catalog, holdings=holdings)
        for name in ("id_codes", "pair_codes"):
            if name in self.__dict__:
                part.__dict__[name] = self.__dict__[name]
        return part

    @property
    def readers(self) -> pd.Index:
        """Every reader with an interaction, in order of first appearance."""
        return self.id_codes.reader_ids

    @property
    def books(self) -> pd.Index:
        """Every known book: borrowed ones and catalog records nobody has borrowed yet."""
        borrowed = self.id_codes.book_ids
        return borrowed.union(pd.Index(self.catalog[C.BOOK_ID].astype(str)), sort=False)
