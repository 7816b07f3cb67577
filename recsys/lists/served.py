"""The precomputed state of one served bundle, from which every list is made.

A `ServedModel` holds the catalog index (filters, works, holdings), the per-book lists, the
popular lists per period and branch, and the per-reader lists. It is built once per bundle (the
service's `ModelStore` swaps whole `ServedModel`s) and read-only once built.

Every per-reader and per-book list is computed once per model, before it is published
(`served_lists`, the nightly's `lists` step), and the bundle carries them: each worker maps
that one copy. For a bundle without them, the most popular books' lists are computed at load
time, any other book's on its first request, and a background thread computes the readers'.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.consortium import MANIFEST_KEY as CONSORTIUM
from recsys.curation.rules import no_rules
from recsys.exceptions import RecsysError
from recsys.lists.catalog import CatalogIndex
from recsys.lists.history import EMPTY_HISTORY
from recsys.lists.popular import PopularLists, load_popular_lists
from recsys.lists.query import ListQuery
from recsys.lists.readers import ReaderLists, compact_scores
from recsys.lists.records import CatalogRecords, subject_headings
from recsys.models.base import Recommender
from recsys.models.matrix import map_blocks
from recsys.models.registry import check_private

logger = logging.getLogger(__name__)

#: Depth of the precomputed per-book lists; deeper filtered requests ask the model.
BOOK_LIST_DEPTH = 100
#: Lists of this many most popular books are computed at load time, the others when first asked.
PRECOMPUTE_BOOKS = 2_000
PRECOMPUTE_BATCH = 256
SMOKE_READER = "smoke-test-reader"
#: The names of the arrays a bundle carries (`SimilarLists.arrays`).
BOOK_POSITIONS, BOOK_SCORES, BOOK_COMPLETE = "book_positions", "book_scores", "book_complete"


class SimilarLists:
    """The model's top-`BOOK_LIST_DEPTH` similar books per catalog book, as catalog positions.

    From a bundle, every book's list is there (`from_arrays`). Otherwise the most popular
    books' lists are computed at load time and any other book's list on its first request, and
    kept (per-book lists are the same for everyone).
    """

    def __init__(
        self,
        model: Recommender,
        catalog: CatalogIndex,
        order: np.ndarray | None = None,
        *,
        computed: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        n = len(catalog)
        self._order = np.arange(n) if order is None else np.asarray(order, dtype=np.int64)
        self._model = model
        self._catalog = catalog
        if computed is None:
            self.positions = np.full((n, BOOK_LIST_DEPTH), -1, dtype=np.int32)
            self.scores = np.zeros((n, BOOK_LIST_DEPTH), dtype=np.float32)
            self.complete = np.zeros(n, dtype=bool)  # the model had no more neighbours
            self._ready = np.zeros(n, dtype=bool)
        else:
            self.positions, self.scores = computed[BOOK_POSITIONS], computed[BOOK_SCORES]
            self.complete = computed[BOOK_COMPLETE]
            self._ready = np.ones(n, dtype=bool)
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(
        cls, model: Recommender, catalog: CatalogIndex, arrays: Mapping[str, np.ndarray]
    ) -> SimilarLists | None:
        """Every book's list from a bundle's `arrays` (memory-mapped, shared by every worker),
        or None when it has none or they were made for another catalog."""
        if BOOK_POSITIONS not in arrays or not catalog.made_for(arrays):
            return None
        return cls(model, catalog, computed=arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        """The computed lists, for a bundle (`compute_all` first)."""
        if self.done < len(self):
            raise ValueError(f"only {self.done} of {len(self)} book lists are computed")
        return {
            BOOK_POSITIONS: self.positions,
            BOOK_SCORES: compact_scores(self.scores),
            BOOK_COMPLETE: self.complete,
        }

    def compute_all(self) -> None:
        """Compute every missing list now, in batches on every core."""
        missing = np.flatnonzero(~self._ready)
        map_blocks(
            self._compute,
            [missing[s : s + PRECOMPUTE_BATCH] for s in range(0, len(missing), PRECOMPUTE_BATCH)],
        )

    def precompute(self, positions: np.ndarray) -> None:
        for start in range(0, len(positions), PRECOMPUTE_BATCH):
            self._compute(positions[start : start + PRECOMPUTE_BATCH])

    def row(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour positions and scores of the book at `position`, best first."""
        if not self._ready[position]:
            self._compute(np.asarray([position]))
        row = self.positions[position]
        row = row[row >= 0]
        return row.astype(np.int64), self.scores[position][: len(row)].astype(np.float64)

    def is_ready(self, position: int) -> bool:
        return bool(self._ready[position])

    @property
    def done(self) -> int:
        return int(self._ready.sum())

    def __len__(self) -> int:
        return len(self._ready)

    def precompute_next(self) -> bool:
        """Compute the next batch of missing lists, most popular books first; False when none
        is missing (background work once every reader's list is in)."""
        order = self._order
        missing = order[~self._ready[order]][:PRECOMPUTE_BATCH]
        if len(missing) == 0:
            return False
        self._compute(missing)
        return True

    def _compute(self, wanted: np.ndarray) -> None:
        catalog = self._catalog
        frame = self._model.similar_books(catalog.book_ids[wanted].tolist(), k=BOOK_LIST_DEPTH)
        lookup = catalog.position  # a dict lookup per row: far cheaper than Series.map(dict)
        rows = np.fromiter(
            (lookup.get(b, -1) for b in frame[C.BOOK_ID].tolist()), np.int64, count=len(frame)
        )
        cols = np.fromiter(
            (lookup.get(b, -1) for b in frame[C.SIMILAR_BOOK_ID].tolist()),
            np.int64,
            count=len(frame),
        )
        keep = (rows >= 0) & (cols >= 0)
        row = rows[keep]
        rank = _ranks_within(row)
        counts = np.bincount(row, minlength=len(catalog))
        with self._lock:
            self.positions[row, rank] = cols[keep]
            self.scores[row, rank] = frame.loc[keep, C.SCORE].to_numpy(dtype=np.float32)
            self.complete[wanted] = counts[wanted] < BOOK_LIST_DEPTH
            self._ready[wanted] = True


@dataclass
class ServedModel:
    """One loaded bundle with its precomputed lists; read-only once built. Its `bundle` holds
    no catalog or holdings rows: `catalog` indexes them."""

    bundle: Bundle
    catalog: CatalogIndex
    similar: SimilarLists
    popular: PopularLists
    readers: ReaderLists
    loaded_at: float

    @property
    def version(self) -> str:
        return self.bundle.run_id

    @property
    def model(self) -> Recommender:
        return self.bundle.model

    def subject_positions(self, position: int) -> np.ndarray:
        """Positions of books sharing at least one subject heading with the book at `position`."""
        books = self.catalog.subject_books
        parts = [books.get(h) for h in subject_headings(self.catalog.subjects[position])]
        found = [p for p in parts if p is not None]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def served_lists(
    model: Recommender,
    catalog: pd.DataFrame,
    holdings: pd.DataFrame,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Every known reader's and every catalog book's list, computed on every core: the arrays
    a bundle carries (`recsys.artifacts.save_bundle(lists=...)`) for the service to map.
    `progress` hears the readers' lists done so far (`ReaderLists.compute_all`)."""
    index = CatalogIndex(catalog, holdings)
    readers = ReaderLists(model, index)
    readers.compute_all(progress)
    books = SimilarLists(model, index)
    books.compute_all()
    return {**readers.arrays(), **books.arrays(), **index.records.arrays()}


def build_served(bundle: Bundle, engine: Engine | None, *, min_readers: int) -> ServedModel:
    """Index the catalog, load the popular lists and the bundle's per-reader and per-book
    lists (or precompute the head's per-book lists), run a smoke query."""
    started = time.perf_counter()
    check_private(bundle.model.name)
    consortium = CONSORTIUM in bundle.manifest
    records = CatalogRecords.from_arrays(bundle.lists)
    if records is None:  # saved before bundles carried them: made here
        catalog = CatalogIndex(bundle.catalog, bundle.holdings, consortium=consortium)
    else:
        catalog = CatalogIndex.of_records(records, consortium=consortium)
        if not catalog.made_for(bundle.lists):
            raise RecsysError(f"bundle {bundle.run_id}'s catalog records do not match its lists")
    popular = load_popular_lists(engine, bundle, catalog, min_readers=min_readers)
    similar = SimilarLists.from_arrays(bundle.model, catalog, bundle.lists)
    readers = ReaderLists.from_arrays(bundle.model, catalog, bundle.lists)
    if similar is None or readers is None:
        logger.warning(
            "run %s carries no precomputed lists for its model and catalog: this worker "
            "computes them (the nightly's lists step writes them into the bundle)",
            bundle.run_id,
        )
        similar = SimilarLists(bundle.model, catalog, order=popular.fallback_order)
        similar.precompute(popular.fallback_order[:PRECOMPUTE_BOOKS])
        readers = ReaderLists(bundle.model, catalog, idle_work=similar.precompute_next)
    served = ServedModel(
        bundle.without_snapshots(), catalog, similar, popular, readers, time.time()
    )
    _smoke(served)
    logger.info(
        "model %s ready in %.1fs (%d books; %d of %d reader lists and %d book lists computed)",
        bundle.run_id,
        time.perf_counter() - started,
        len(catalog),
        readers.done,
        len(readers),
        similar.done,
    )
    return served


def _ranks_within(groups: np.ndarray) -> np.ndarray:
    """0-based order of each element within its run of equal (contiguous) group values."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    return np.arange(len(groups)) - run_start


def _smoke(served: ServedModel) -> None:
    """Answer one list of each kind; any failure refuses the bundle."""
    from recsys.lists import pipeline

    if len(served.catalog) == 0:
        raise RecsysError(f"bundle {served.version} has an empty catalog snapshot")
    query = ListQuery(k=min(5, len(served.catalog)))
    rules = no_rules(len(served.catalog))
    reader = pipeline.reader_list(
        served, rules, reader=SMOKE_READER, history=EMPTY_HISTORY, query=query
    )
    book_id = str(served.catalog.book_ids[0])
    book = pipeline.book_list(served, rules, book_id=book_id, query=query)
    top = pipeline.popular_list(served, rules, query=query)
    if not (len(reader.positions) and len(book.positions) and len(top.positions)):
        raise RecsysError(f"bundle {served.version} answered an empty smoke query")
