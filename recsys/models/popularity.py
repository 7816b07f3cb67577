"""Popularity: what readers borrowed lately, overall, per branch and per audience.

It is a baseline, the fallback for readers a personal model does not know (a 404 would reveal
who has loans), and the filler when a collaborative list runs short. Popularity counts readers,
not loans: one reader's repeat loans are damped like everywhere else (`recsys.models.weighting`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import Columns as C
from recsys.models.base import check_k
from recsys.models.matrix import IdMap, build_matrix, csr_restore, csr_state
from recsys.models.ranking import Pairs, RankingRecommender, TrainingData
from recsys.models.weighting import event_weights

NO_LIBRARY = ""


class PopularityRecommender(RankingRecommender):
    """Most borrowed books, recency-weighted; a known reader sees their home branch's favourites."""

    name = "popularity"
    collaborative = False
    private_lists = True  # no list links the reader's history through other readers

    def __init__(
        self,
        *,
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = 90.0,
        per_library: bool = True,
    ) -> None:
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.per_library = per_library

    def _fit_model(self, data: TrainingData) -> None:
        interactions = data.dataset.interactions
        libraries = interactions.get(C.LIBRARY_ID, pd.Series(NO_LIBRARY, index=interactions.index))
        library_codes, library_ids = pd.factorize(libraries.fillna(NO_LIBRARY).astype(str))
        self.libraries_ = IdMap(sorted(library_ids))
        n_libraries = len(self.libraries_)
        pairs = data.pairs
        # integer keys from the fit's grouped pairs: grouping string ids costs a minute at 10
        # million loans. Per row of a known pair: its pair, its reader, its branch (sorted order).
        library = self.libraries_.index(library_ids)[library_codes[pairs.known]]
        weights = event_weights(
            interactions,
            event_weights=self.event_weights,
            half_life_days=self.half_life_days,
            reference_time=data.reference_time,
        )[pairs.known]
        # each branch counts its own readers, with repeat loans damped as in `ranking.Pairs`
        reader_branch = pairs.group.astype(np.int64) * n_libraries + library
        per_reader = pd.Series(weights).groupby(reader_branch, sort=False).sum()
        pair, branch = np.divmod(per_reader.index.to_numpy(), n_libraries)
        book = pairs.book_column[pairs.book_code[pair]]
        per_book = (
            pd.Series(np.log2(1.0 + per_reader.to_numpy()))
            .groupby(branch * len(data.books) + book, sort=True)
            .sum()
        )
        per_book = per_book[per_book > 0]
        branch, book = np.divmod(per_book.index.to_numpy(), len(data.books))
        self.by_library_ = build_matrix(
            branch, book, per_book.to_numpy(), (n_libraries, len(data.books))
        )
        self.reader_library_ = _home_libraries(
            pairs.reader_code[pairs.group], library, n_libraries, pairs, data.readers
        )
        self.audiences_ = _audiences(data.dataset.catalog, data.books)

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        homes = [self._home(int(r)) for r in reader_index]
        # a batch of readers shares a few branches: each branch's ranking is built once
        rankings = {home: self._ranking(home) for home in set(homes)}
        return np.vstack([rankings[home] for home in homes])

    def _fallback_scores(self, reader_index: int) -> np.ndarray:
        return self._ranking(self._home(reader_index))

    def _home(self, reader_index: int) -> int:
        """The reader's home branch when lists are per branch, else -1 (overall)."""
        if self.per_library and reader_index >= 0:
            return int(self.reader_library_[reader_index])
        return -1

    def _ranking(self, library: int) -> np.ndarray:
        return self._library_scores(library) if library >= 0 else self.popularity_

    def _library_scores(self, library: int) -> np.ndarray:
        """Branch popularity first; the overall ranking orders what the branch never lent."""
        branch = np.asarray(self.by_library_[library].todense(), dtype=np.float64).ravel()
        overall = self.popularity_ / max(self.popularity_.max(), 1e-12)
        return branch + 1e-6 * overall

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        """Popular books in the same audience; nothing is learned about pairs of books."""
        same = self.audiences_[others] == self.audiences_[book]
        return self.popularity_[others] * np.where(same, 1.0, 0.5)

    def _neighbours(self, book: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        others = np.flatnonzero(np.arange(self.n_columns) != book)
        return others, self._pair_scores(book, others), None

    def popular(
        self,
        *,
        k: int = 10,
        library_id: str | None = None,
        audience: str | None = None,
        candidates: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Top-k books ``[book_id, score, rank]`` overall, at one branch and/or for one audience.

        An unknown branch falls back to the overall ranking.
        """
        self._check_fitted()
        k = check_k(k)
        records = self._records(candidates, exclude)
        mask = records >= 0
        if audience is not None:
            mask &= self.audiences_ == audience
        library = self.libraries_.index([library_id])[0] if library_id is not None else -1
        scores = self._library_scores(int(library)) if library >= 0 else self.popularity_
        chosen = self._pick(scores, mask, k)
        return pd.DataFrame(
            {
                C.BOOK_ID: pd.Series(self.books_.ids[records[chosen]].tolist(), dtype=object),
                C.SCORE: np.asarray(scores, dtype=np.float64)[chosen],
                C.RANK: np.arange(1, len(chosen) + 1, dtype=np.int64),
            }
        )

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        self.reader_library_ = self.reader_library_[keep]

    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            **self.libraries_.state("libraries"),
            "reader_library": self.reader_library_,
            "audiences": self.audiences_,
            **csr_state("by_library", self.by_library_),
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.libraries_ = IdMap.from_state("libraries", arrays)
        self.reader_library_ = arrays["reader_library"]
        self.audiences_ = arrays["audiences"]
        self.by_library_ = csr_restore("by_library", arrays)


def _home_libraries(
    row_readers: np.ndarray,
    row_libraries: np.ndarray,
    n_libraries: int,
    pairs: Pairs,
    readers: IdMap,
) -> np.ndarray:
    """Per training reader, the branch of most of their interactions (ties: the branch first in
    sorted order); -1 for none."""
    keys, counts = np.unique(
        row_readers.astype(np.int64) * n_libraries + row_libraries, return_counts=True
    )
    reader, library = np.divmod(keys, n_libraries)
    order = np.lexsort((library, -counts, reader))
    first = order[np.r_[True, reader[order][1:] != reader[order][:-1]]]
    rows = readers.index(np.asarray(pairs.reader_ids, dtype=object))[reader[first]]
    homes = np.full(len(readers), -1, dtype=np.int64)
    homes[rows[rows >= 0]] = library[first][rows >= 0]
    return homes


def _audiences(catalog: pd.DataFrame, books: IdMap) -> np.ndarray:
    """Audience per book as a unicode array ('' where the catalog does not say)."""
    audiences = np.full(len(books), "", dtype=object)
    if not catalog.empty and C.AUDIENCE in catalog:
        rows = books.index(catalog[C.BOOK_ID].astype(str))
        values = catalog[C.AUDIENCE].fillna("").astype(str).to_numpy()
        audiences[rows[rows >= 0]] = values[rows >= 0]
    return audiences.astype(str)
