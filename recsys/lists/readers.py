"""The model's deep list per known reader: computed once per model, before it is published.

A list depends only on the model (history newer than the model is folded in per request,
elsewhere), so the nightly's `lists` step computes every known reader's list on every core
(`ReaderLists.compute_all`) and the bundle carries them (`arrays`); every service worker maps
that one copy (`ReaderLists.from_arrays`), so a published model's lists are ready as soon as it
is loaded.

A bundle without them (saved before, or by a tool that does not compute them) is served all
the same: one thread per served model scores readers in batches, since scoring one reader costs
the model a fixed set-up that a batch of 256 shares. Requests for a reader whose list is not
ready are coalesced into one batch, and while no request waits the thread computes every known
reader's list in the background.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future

import numpy as np

from recsys.columns import Columns as C
from recsys.lists.catalog import CatalogIndex
from recsys.lists.records import CATALOG_SHA256, ids_sha256
from recsys.models.base import Recommender
from recsys.models.matrix import map_blocks

logger = logging.getLogger(__name__)

#: Depth of the precomputed per-reader lists; requests needing more ask the model.
READER_LIST_DEPTH = 100
READER_BATCH = 256
#: `compute_all` reports its progress about every this many readers (and once at the end).
PROGRESS_READERS = 10_000
#: The names of the arrays a bundle carries (`ReaderLists.arrays`); the catalog's digest says
#: which catalog positions the lists hold (the per-book lists hold them too).
POSITIONS, SCORES, COUNTS = "reader_positions", "reader_scores", "reader_counts"
READERS_SHA256 = "reader_ids_sha256"


def made_for(arrays: Mapping[str, np.ndarray], name: str, ids: Iterable[object]) -> bool:
    """Whether the digest `name` among `arrays` is that of `ids`."""
    return name in arrays and np.array_equal(arrays[name], ids_sha256(ids))


def compact_scores(scores: np.ndarray) -> np.ndarray:
    """`scores` as float32 when that changes none of them (half the file), else unchanged."""
    narrow = scores.astype(np.float32)
    return narrow if np.array_equal(narrow, scores) else scores


class ReaderRows(Mapping[str, int]):
    """Each listed reader's row, looked up in the model's own index of its readers: a dict of
    its own would hold an entry per reader again in every worker."""

    def __init__(self, model: Recommender, ids: np.ndarray) -> None:
        self._model = model
        self._ids = ids

    def __getitem__(self, reader: str) -> int:
        row = self._model.reader_row(reader)
        if row is None:
            raise KeyError(reader)
        return row

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids.tolist())

    def in_order(self) -> list[tuple[str, int]]:
        """Every listed reader and their row, in row order, without a lookup per reader."""
        return list(zip(self._ids.tolist(), range(len(self._ids)), strict=True))

    def __len__(self) -> int:
        return len(self._ids)


class ReaderLists:
    """Per known reader: up to `READER_LIST_DEPTH` catalog positions (-1: a book the catalog
    snapshot lacks) and scores, in the model's order, and how many rows the model answered."""

    def __init__(
        self,
        model: Recommender,
        catalog: CatalogIndex,
        idle_work: Callable[[], bool] | None = None,
        *,
        computed: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        ids = np.asarray(model.known_readers())
        self._model = model
        self._catalog = catalog
        self._ids = ids
        self.index = ReaderRows(model, ids)
        n = len(ids)
        if computed is None:
            self._positions = np.full((n, READER_LIST_DEPTH), -1, dtype=np.int32)
            self._scores: np.ndarray = np.zeros((n, READER_LIST_DEPTH), dtype=np.float64)
            self._counts = np.zeros(n, dtype=np.int32)
            self._ready = np.zeros(n, dtype=bool)
        else:
            self._positions, self._scores = computed[POSITIONS], computed[SCORES]
            self._counts = computed[COUNTS]
            self._ready = np.ones(n, dtype=bool)
        self._done = int(self._ready.sum())  # kept with `_ready`: asked on request paths
        self._cond = threading.Condition()
        self._waiting: dict[int, Future[None]] = {}
        self._background = False
        self._cursor = 0
        self._thread: threading.Thread | None = None
        self._idle_work = idle_work

    @classmethod
    def from_arrays(
        cls, model: Recommender, catalog: CatalogIndex, arrays: Mapping[str, np.ndarray]
    ) -> ReaderLists | None:
        """Every reader's list from a bundle's `arrays` (memory-mapped, shared by every worker),
        or None when it has none or they were made for other readers or another catalog."""
        if not made_for(arrays, READERS_SHA256, model.known_readers()) or not catalog.made_for(
            arrays
        ):
            return None
        return cls(model, catalog, computed=arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        """The computed lists, for a bundle (`compute_all` first)."""
        if not self.complete:
            raise ValueError(f"only {self.done} of {len(self)} reader lists are computed")
        return {
            POSITIONS: self._positions,
            SCORES: compact_scores(self._scores),
            COUNTS: self._counts,
            READERS_SHA256: ids_sha256(self._ids),
            CATALOG_SHA256: self._catalog.book_ids_sha256,
        }

    def __len__(self) -> int:
        return len(self._ids)

    # ---------------------------------------------------------------------------- reading
    def get(self, reader: int, timeout: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Positions, scores and the model's row count of a known reader's list, best first;
        waits for the batch that scores it when it is not ready yet."""
        if not self._ready[reader]:
            self._request(reader).result(timeout)
        count = int(self._counts[reader])
        used = min(count, READER_LIST_DEPTH)
        return (
            self._positions[reader, :used].astype(np.int64),
            self._scores[reader, :used].astype(np.float64),
            count,
        )

    def is_ready(self, reader: int) -> bool:
        """Whether `get` answers without waiting."""
        return bool(self._ready[reader])

    @property
    def done(self) -> int:
        """How many known readers' lists are ready."""
        return self._done

    @property
    def complete(self) -> bool:
        """Whether every known reader's list is ready."""
        return self.done >= len(self._ids)

    def prepare(self, readers: Sequence[str]) -> None:
        """Compute the lists of `readers` (those the model knows) now, in this thread: a batch
        job asks for many readers at once, and batches of them cost a fraction of one each."""
        index = self.index
        wanted = np.unique(np.asarray([index[r] for r in readers if r in index], dtype=np.int64))
        wanted = wanted[~self._ready[wanted]]
        for start in range(0, len(wanted), READER_BATCH):
            self._compute(wanted[start : start + READER_BATCH])

    def compute_all(
        self, progress: Callable[[int], None] | None = None, *, every: int = PROGRESS_READERS
    ) -> None:
        """Compute every missing list now, in batches on every core (threads: the model's
        scoring is mostly numpy and scipy work, which releases the GIL). `progress` hears the
        readers done so far about every `every` readers and at the end: at a consortium's size
        this takes long enough that an operator must see it move."""
        missing = np.flatnonzero(~self._ready)
        blocks = [
            missing[start : start + READER_BATCH] for start in range(0, len(missing), READER_BATCH)
        ]
        reported = 0

        def report(blocks_done: int) -> None:
            nonlocal reported
            readers = min(blocks_done * READER_BATCH, len(missing))
            if progress is not None and (readers - reported >= every or readers == len(missing)):
                progress(readers)
                reported = readers

        map_blocks(self._compute, blocks, report)

    # ---------------------------------------------------------------------------- control
    def start_background(self) -> None:
        """Precompute every reader's list while no request waits (once the model is served)."""
        with self._cond:
            self._background = True
            self._wake()

    def retire(self) -> None:
        """Stop precomputing (the model was replaced); waiting requests are still answered."""
        with self._cond:
            self._background = False

    def _request(self, reader: int) -> Future[None]:
        with self._cond:
            future = self._waiting.get(reader)
            if future is None:
                future = Future()
                if self._ready[reader]:  # finished between the check and the lock
                    future.set_result(None)
                    return future
                self._waiting[reader] = future
            self._wake()
            return future

    def _wake(self) -> None:
        """Start the scoring thread if it is not running (call with the lock held)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="reader-lists", daemon=True)
            self._thread.start()
        self._cond.notify()

    # ---------------------------------------------------------------------------- scoring
    def _next_batch(self) -> tuple[np.ndarray, list[Future[None]]] | None:
        """Waiting readers first; otherwise the next background batch (after every reader,
        a round of `idle_work`); None: nothing to do."""
        with self._cond:
            if self._waiting:
                wanted = list(self._waiting)[:READER_BATCH]
                return np.asarray(wanted, dtype=np.int64), [self._waiting.pop(r) for r in wanted]
            if not self._background:
                self._thread = None
                return None
            ready = self._ready
            while self._cursor < len(ready) and ready[self._cursor]:
                self._cursor += 1
            if self._cursor >= len(ready):
                if self._idle_work is not None:
                    return np.empty(0, dtype=np.int64), []
                self._thread = None
                return None
            stop = min(len(ready), self._cursor + READER_BATCH)
            batch = np.arange(self._cursor, stop)
            self._cursor = stop
            return batch[~ready[batch]], []

    def _run(self) -> None:
        started = time.perf_counter()
        while (batch := self._next_batch()) is not None:
            readers, futures = batch
            try:
                if len(readers) == 0 and self._idle_work is not None and not self._idle_work():
                    self._idle_work = None  # done: the next round may end the thread
                self._compute(readers)
            except Exception as error:  # the requests report it; the thread keeps going
                logger.exception("precomputing lists failed")
                if len(readers) == 0:
                    self._idle_work = None  # do not retry the same failing work forever
                for future in futures:
                    future.set_exception(error)
                continue
            for future in futures:
                future.set_result(None)
        if self.complete:
            logger.info(
                "%d reader lists ready (%.1fs)", len(self._ids), time.perf_counter() - started
            )

    def _compute(self, readers: np.ndarray) -> None:
        if len(readers) == 0:
            return
        ids = self._ids[readers].tolist()
        frame = self._model.recommend(ids, k=READER_LIST_DEPTH)
        lookup = self._catalog.position
        row_of = {r: i for i, r in zip(readers.tolist(), ids, strict=True)}
        rows = np.fromiter(
            (row_of[r] for r in frame[C.READER_ID].tolist()), np.int64, count=len(frame)
        )
        cols = np.fromiter(
            (lookup.get(b, -1) for b in frame[C.BOOK_ID].tolist()), np.int64, count=len(frame)
        )
        rank = frame[C.RANK].to_numpy(dtype=np.int64) - 1
        scores = frame[C.SCORE].to_numpy(dtype=np.float64)
        counts = np.bincount(rows, minlength=len(self._ids))[readers]
        with self._cond:
            self._positions[rows, rank] = cols
            self._scores[rows, rank] = scores
            self._counts[readers] = counts
            self._done += int((~self._ready[readers]).sum())
            self._ready[readers] = True
