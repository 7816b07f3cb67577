"""Popular books per period and branch, counted in distinct readers from the stored loans.

Computed once per served model and state of the stored loans (new loans arrive with the nightly
run that also trains the model), and kept in the run's folder for every worker's load
(`recsys.lists.popular_files`). A record counts only when at least `min_readers` distinct
readers borrowed it in the period, so a list never points at one reader's loans; a work counts
the readers of its records added up (a reader of two of its editions twice), and every record
of the work ranks with that sum, so editions pool their evidence. Lists are padded by the
model's own popularity, so they have k items whenever k eligible books exist.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys.artifacts import Bundle
from recsys.db.queries import readers_per_book
from recsys.lists.catalog import CatalogIndex
from recsys.lists.popular_files import Counted, counts_key, open_counted, place_counted
from recsys.lists.query import PERIOD_DAYS, PERIODS

logger = logging.getLogger(__name__)

OVERALL = ""


@dataclass(frozen=True)
class PopularLists:
    """Ranked catalog positions per (period, library); `OVERALL` is every branch together."""

    orders: dict[tuple[str, str], np.ndarray]
    scores: dict[tuple[str, str], np.ndarray]
    fallback_order: np.ndarray  # every catalog position, by the model's popularity
    fallback_scores: np.ndarray  # per catalog position
    source: str  # "loans" or "model"

    def ranked(self, period: str, library: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and scores for `period` at `library` (overall for an unknown branch)."""
        key = (period, library or OVERALL)
        if key not in self.orders:
            key = (period, OVERALL)
        return self.orders.get(key, _EMPTY_I), self.scores.get(key, _EMPTY_F)

    @cached_property
    def digest(self) -> str:
        """Names these lists: workers that counted the store at different moments may hold
        different ones, and a list padded from them is the same only under the same digest."""
        hashed = hashlib.sha256(self.source.encode())
        for key in sorted(self.orders):
            hashed.update(repr(key).encode())
            hashed.update(np.ascontiguousarray(self.orders[key]).tobytes())
            hashed.update(np.ascontiguousarray(self.scores[key]).tobytes())
        hashed.update(np.ascontiguousarray(self.fallback_order).tobytes())
        hashed.update(np.ascontiguousarray(self.fallback_scores).tobytes())
        return hashed.hexdigest()[:16]

    def pick(
        self, period: str, library: str | None, eligible: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top-k eligible positions: counted books first, then the model's popularity."""
        order, scores = self.ranked(period, library)
        ok = eligible[order]
        chosen, chosen_scores = order[ok][:k], scores[ok][:k]
        if len(chosen) < k:
            rest = eligible.copy()
            rest[chosen] = False
            extra = self.fallback_order[rest[self.fallback_order]][: k - len(chosen)]
            chosen = np.concatenate([chosen, extra])
            chosen_scores = np.concatenate([chosen_scores, np.zeros(len(extra))])
        return chosen, chosen_scores


_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


def model_popularity(bundle: Bundle, catalog: CatalogIndex) -> np.ndarray:
    """The model's popularity per catalog position (0 where it has none)."""
    return np.asarray(bundle.model.book_popularity(catalog.book_ids.tolist()), dtype=np.float64)


def load_popular_lists(
    engine: Engine | None, bundle: Bundle, catalog: CatalogIndex, *, min_readers: int
) -> PopularLists:
    """Readers per book, period and branch as counted for the run under the store's current
    state (`recsys.lists.popular_files`), else counted now; the model's popularity if the
    store fails."""
    fallback_scores = model_popularity(bundle, catalog)
    fallback_order = np.argsort(-fallback_scores, kind="stable")
    counted: Counted = {}
    source = "model"
    if engine is not None:
        try:
            counted = _counted(engine, bundle, catalog, fallback_scores, min_readers=min_readers)
            source = "loans"
        except SQLAlchemyError as error:
            logger.warning(
                "popular lists use the model's popularity: the store failed (%s)",
                type(error).__name__,
            )
    orders = {key: order for key, (order, _) in counted.items()}
    scores = {key: counts for key, (_, counts) in counted.items()}
    for period in PERIODS:
        if (period, OVERALL) not in orders:
            orders[(period, OVERALL)] = _EMPTY_I
            scores[(period, OVERALL)] = _EMPTY_F
    return PopularLists(orders, scores, fallback_order, fallback_scores, source)


def _counted(
    engine: Engine,
    bundle: Bundle,
    catalog: CatalogIndex,
    fallback_scores: np.ndarray,
    *,
    min_readers: int,
) -> Counted:
    """The counted books of each list, best first (ties broken by the model's popularity):
    from the run's files when an earlier load counted the same store state, else counted now
    and placed for the next load."""
    key = counts_key(engine, min_readers=min_readers)
    counted = open_counted(bundle.path, key)
    if counted is not None:
        return counted
    counted = {}
    for name, per_book in _reader_counts(engine, catalog, min_readers=min_readers).items():
        order = np.lexsort((-fallback_scores, -per_book))
        order = order[per_book[order] > 0]
        counted[name] = (order, per_book[order])
    place_counted(bundle.path, key, counted, manifest_stamp=bundle.manifest_sha256)
    return counted


def _reader_counts(
    engine: Engine, catalog: CatalogIndex, *, min_readers: int
) -> dict[tuple[str, str], np.ndarray]:
    """Distinct readers per (period, library) and book, as dense arrays over the catalog, each
    record holding its work's sum."""
    result: dict[tuple[str, str], np.ndarray] = {}
    for period, days in PERIOD_DAYS.items():
        overall = np.zeros(len(catalog), dtype=np.float64)
        for library, book_id, count in readers_per_book(engine, days=days, min_readers=min_readers):
            position = catalog.position.get(book_id)
            if position is None:
                continue
            key = (period, str(library) if library is not None else OVERALL)
            if key not in result:
                result[key] = np.zeros(len(catalog), dtype=np.float64)
            result[key][position] += count
            overall[position] += count
        result[(period, OVERALL)] = overall
    works = catalog.works
    return {
        key: np.bincount(works, weights=per_book, minlength=int(works.max(initial=-1)) + 1)[works]
        for key, per_book in result.items()
    }
