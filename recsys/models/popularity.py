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
from recsys.models.ranking import RankingRecommender, TrainingData
from recsys.models.weighting import event_weights

NO_LIBRARY = ""


class PopularityRecommender(RankingRecommender):
    """Most borrowed books, recency-weighted; a known reader sees their home branch's favourites."""

    name = "popularity"
    collaborative = False

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
        library_ids = libraries.fillna(NO_LIBRARY).astype(str)
        weights = event_weights(
            interactions,
            event_weights=self.event_weights,
            half_life_days=self.half_life_days,
            reference_time=data.reference_time,
        )
        frame = pd.DataFrame(
            {
                C.LIBRARY_ID: library_ids.to_numpy(),
                C.READER_ID: interactions[C.READER_ID].astype(str).to_numpy(),
                C.BOOK_ID: interactions[C.BOOK_ID].astype(str).to_numpy(),
                C.WEIGHT: weights,
            }
        )
        # each branch counts its own readers, with repeat loans damped as in `ranking.Pairs`
        keys = [C.LIBRARY_ID, C.READER_ID, C.BOOK_ID]
        per_reader = frame.groupby(keys, sort=False)[C.WEIGHT].sum()
        per_book = np.log2(1.0 + per_reader).groupby(level=[C.LIBRARY_ID, C.BOOK_ID]).sum()
        per_book = per_book[per_book > 0]
        self.libraries_ = IdMap(sorted(library_ids.unique()))
        self.by_library_ = build_matrix(
            self.libraries_.index(per_book.index.get_level_values(C.LIBRARY_ID)),
            data.books.index(per_book.index.get_level_values(C.BOOK_ID)),
            per_book.to_numpy(),
            (len(self.libraries_), len(data.books)),
        )
        counts = frame.groupby([C.READER_ID, C.LIBRARY_ID], sort=True).size()
        ranked = counts.sort_values(ascending=False, kind="stable").reset_index()
        home = ranked.drop_duplicates(C.READER_ID).set_index(C.READER_ID)[C.LIBRARY_ID]
        self.reader_library_ = np.full(len(data.readers), -1, dtype=np.int64)
        rows = data.readers.index(home.index)
        self.reader_library_[rows[rows >= 0]] = self.libraries_.index(home.to_numpy()[rows >= 0])
        self.audiences_ = _audiences(data.dataset.catalog, data.books)

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        return np.vstack([self._fallback_scores(int(r)) for r in reader_index])

    def _fallback_scores(self, reader_index: int) -> np.ndarray:
        if self.per_library and reader_index >= 0 and self.reader_library_[reader_index] >= 0:
            return self._library_scores(int(self.reader_library_[reader_index]))
        return self.popularity_

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
        others = np.flatnonzero(np.arange(len(self.books_)) != book)
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
        mask = self._allowed(candidates, exclude)
        if audience is not None:
            mask &= self.audiences_ == audience
        library = self.libraries_.index([library_id])[0] if library_id is not None else -1
        scores = self._library_scores(int(library)) if library >= 0 else self.popularity_
        chosen = self._pick(scores, mask, k)
        return pd.DataFrame(
            {
                C.BOOK_ID: pd.Series(self.books_.ids[chosen].tolist(), dtype=object),
                C.SCORE: np.asarray(scores, dtype=np.float64)[chosen],
                C.RANK: np.arange(1, len(chosen) + 1, dtype=np.int64),
            }
        )

    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            "libraries": self.libraries_.ids,
            "reader_library": self.reader_library_,
            "audiences": self.audiences_,
            **csr_state("by_library", self.by_library_),
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.libraries_ = IdMap(arrays["libraries"])
        self.reader_library_ = arrays["reader_library"]
        self.audiences_ = arrays["audiences"]
        self.by_library_ = csr_restore("by_library", arrays)


def _audiences(catalog: pd.DataFrame, books: IdMap) -> np.ndarray:
    """Audience per book as a unicode array ('' where the catalog does not say)."""
    audiences = np.full(len(books), "", dtype=object)
    if not catalog.empty and C.AUDIENCE in catalog:
        rows = books.index(catalog[C.BOOK_ID].astype(str))
        values = catalog[C.AUDIENCE].fillna("").astype(str).to_numpy()
        audiences[rows[rows >= 0]] = values[rows >= 0]
    return audiences.astype(str)
