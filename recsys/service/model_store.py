"""The served model: a verified bundle plus everything precomputed for fast, exact lists.

`ModelStore.served` is swapped as one reference, so a request that took the old `ServedModel`
finishes on it while new requests get the new one: no request fails during a swap. A new bundle
is served only after it loaded completely and answered a smoke query; otherwise the old one keeps
serving and the log says why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from recsys import artifacts
from recsys.artifacts import Bundle
from recsys.columns import SUBJECT_SEPARATOR
from recsys.columns import Columns as C
from recsys.exceptions import RecsysError
from recsys.models.base import Recommender
from recsys.service.filters import CatalogIndex, ListFilters
from recsys.service.popular import PERIODS, PopularLists, load_popular_lists

logger = logging.getLogger(__name__)

#: Depth of the precomputed per-book lists; deeper filtered requests ask the model.
BOOK_LIST_DEPTH = 100
RESPONSE_CACHE_SIZE = 20_000
SMOKE_READER = "smoke-test-reader"


class ResponseCache:
    """An LRU of rendered public lists (body, strategy): the same for everyone, per model."""

    def __init__(self, size: int = RESPONSE_CACHE_SIZE) -> None:
        self._items: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, entry: tuple[bytes, str]) -> None:
        with self._lock:
            self._items[key] = entry
            if len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass
class ServedModel:
    """One loaded bundle with its precomputed lists; read-only once built."""

    bundle: Bundle
    catalog: CatalogIndex
    similar_positions: np.ndarray  # (books, depth) catalog positions, -1 = none
    similar_scores: np.ndarray  # (books, depth)
    similar_complete: np.ndarray  # bool per book: the model had no more neighbours
    popular: PopularLists
    loaded_at: float
    responses: ResponseCache = field(default_factory=ResponseCache)
    _subjects: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.bundle.run_id

    @property
    def model(self) -> Recommender:
        return self.bundle.model

    def subject_positions(self, position: int) -> np.ndarray:
        """Positions of books sharing at least one subject heading with the book at `position`."""
        text = self.catalog.subjects[position]
        if not text:
            return np.empty(0, dtype=np.int64)
        parts = [self._subjects.get(s.strip().casefold()) for s in
                 text.split(SUBJECT_SEPARATOR.strip())]
        found = [p for p in parts if p is not None]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def build_served(bundle: Bundle, engine: Engine | None, *, min_readers: int) -> ServedModel:
    """Index the catalog, precompute per-book and popular lists, and run a smoke query."""
    started = time.perf_counter()
    catalog = CatalogIndex(bundle.catalog, bundle.holdings)
    positions, scores, complete = _similar_lists(bundle, catalog)
    popular = load_popular_lists(engine, bundle, catalog, min_readers=min_readers)
    served = ServedModel(bundle, catalog, positions, scores, complete, popular, time.time())
    served._subjects.update(_subject_index(catalog))
    _smoke(served)
    logger.info("model %s ready in %.1fs (%d books)", bundle.run_id,
                time.perf_counter() - started, len(catalog))
    return served


def _similar_lists(
    bundle: Bundle, catalog: CatalogIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's top-`BOOK_LIST_DEPTH` similar books of every catalog book, as positions."""
    n = len(catalog)
    positions = np.full((n, BOOK_LIST_DEPTH), -1, dtype=np.int32)
    scores = np.zeros((n, BOOK_LIST_DEPTH), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    if n:
        frame = bundle.model.similar_books(list(catalog.book_ids), k=BOOK_LIST_DEPTH)
        rows = frame[C.BOOK_ID].map(catalog.position)
        cols = frame[C.SIMILAR_BOOK_ID].map(catalog.position)
        keep = (rows.notna() & cols.notna()).to_numpy()
        frame = frame.loc[keep]
        row = rows[keep].to_numpy(dtype=np.int64)
        rank = _ranks_within(row)
        positions[row, rank] = cols[keep].to_numpy(dtype=np.int64)
        scores[row, rank] = frame[C.SCORE].to_numpy(dtype=np.float32)
        counts = np.bincount(row, minlength=n)
    return positions, scores, counts < BOOK_LIST_DEPTH


def _ranks_within(groups: np.ndarray) -> np.ndarray:
    """0-based order of each element within its run of equal (contiguous) group values."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    return np.arange(len(groups)) - run_start


def _subject_index(catalog: CatalogIndex) -> dict[str, np.ndarray]:
    index: dict[str, list[int]] = {}
    for position, text in enumerate(catalog.subjects):
        for subject in (text or "").split(SUBJECT_SEPARATOR.strip()):
            if subject.strip():
                index.setdefault(subject.strip().casefold(), []).append(position)
    return {s: np.asarray(p, dtype=np.int64) for s, p in index.items()}


def _smoke(served: ServedModel) -> None:
    """Answer one list of each kind; any failure refuses the bundle."""
    from recsys.service import lists

    k = min(5, max(len(served.catalog), 1))
    if len(served.catalog) == 0:
        raise RecsysError(f"bundle {served.version} has an empty catalog snapshot")
    unknown = pd.DataFrame(columns=[C.READER_ID, C.BOOK_ID, C.EVENT, C.TIMESTAMP])
    reader = lists.reader_list(served, reader=SMOKE_READER, history=unknown,
                               filters=ListFilters(), k=k)
    book = lists.similar_list(served, book_id=str(served.catalog.book_ids[0]),
                              filters=ListFilters(), k=k)
    top = lists.popular_list(served, filters=ListFilters(), period=PERIODS[0], k=k)
    if not (reader.items and book.items and top.items):
        raise RecsysError(f"bundle {served.version} answered an empty smoke query")


@dataclass(frozen=True)
class ReloadOutcome:
    outcome: Literal["swapped", "unchanged", "refused", "nothing published"]
    model_version: str | None
    detail: str | None = None


class ModelStore:
    """Holds the served model and swaps in newly published ones."""

    def __init__(self, models_dir: Path, engine: Engine | None, *, min_readers: int,
                 on_swap: Callable[[str], None] | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.engine = engine
        self.min_readers = min_readers
        self.served: ServedModel | None = None
        self.last_error: str | None = None
        self._refused: str | None = None
        self._lock = threading.Lock()
        self._on_swap = on_swap

    def refresh(self, *, force: bool = False) -> ReloadOutcome:
        """Serve the published run if it is new; `force` retries a run refused before."""
        with self._lock:
            run_id = artifacts.current_run_id(self.models_dir)
            served = self.served
            if run_id is None:
                return ReloadOutcome("nothing published", served.version if served else None,
                                     f"no CURRENT in {self.models_dir}")
            if served is not None and served.version == run_id:
                return ReloadOutcome("unchanged", run_id)
            if run_id == self._refused and not force:
                return ReloadOutcome("refused", served.version if served else None,
                                     self.last_error)
            try:
                bundle = artifacts.load_bundle(artifacts.run_path(self.models_dir, run_id))
                fresh = build_served(bundle, self.engine, min_readers=self.min_readers)
            except Exception as error:  # any failure must leave the old model serving
                self._refused = run_id
                self.last_error = f"run {run_id} refused: {type(error).__name__}: {error}"
                logger.error("%s; still serving %s", self.last_error,
                             served.version if served else "nothing")
                self._notify("refused")
                return ReloadOutcome("refused", served.version if served else None,
                                     self.last_error)
            self.served = fresh
            self._refused = None
            self.last_error = None
            logger.info("now serving model %s (was %s)", run_id,
                        served.version if served else "nothing")
            self._notify("swapped")
            return ReloadOutcome("swapped", run_id)

    def _notify(self, outcome: str) -> None:
        if self._on_swap is not None:
            self._on_swap(outcome)

    async def poll(self, interval: float) -> None:
        """Check `CURRENT` every `interval` seconds until cancelled (loads run in a thread)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # keep polling whatever happened in one round
                logger.exception("model poll failed; will retry")
