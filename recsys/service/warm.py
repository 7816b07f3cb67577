"""Readers' lists made before they ask, on the worker's event loop between requests.

A reader's first ask costs a read of their state and a render, many times the answer of a
kept list (`recsys.service.front`). Two moments make every list cold at once: a worker's start
(nothing kept yet) and a new list version (a model swap or changed curation rules make every
kept list stale). After each, for the new version:

1. Every listed reader's default list, rendered once for every worker (`recsys.lists.rendered`,
   replayed through `recsys.service.replay`): a worker opens the version's folder if the
   nightly (`recsys.lists.ahead`, before it published the run) or another worker placed it;
   else the first worker to claim it renders the lists, from each reader's rows as they are
   then (read a block of readers per query), and places it, while the others wait for it
   (their requests are answered as before meanwhile). A bundle whose reader lists are still
   being computed waits until they are all in. Where the folder cannot be written (a
   read-only models directory), each worker goes on without it.
2. With the front door's own `reader_answer`, so they are kept as if asked: the lists asked
   under the earlier version (the same readers and queries, now made by the new model or
   rules), and after the worker's start the default list of the readers who borrowed most
   recently, up to `RECSYS_WARM_READERS` (a list the rendered folder holds is only looked up;
   their states are read a block of readers per query and kept as a request's read is).
   A pass stops early when the cache of readers' lists is full: a list made then would push out
   one made earlier, likelier to be asked.

3. After the start, after each model swap (the readers new to the model, or everyone after a
   write on SQLite) and, on PostgreSQL, after the store's notices were interrupted (which drops
   everything kept): every listed reader's fingerprint not kept yet
   (`ReaderStates.read_fingerprints`, a block of readers per query), so a reader's first ask,
   or one beyond the states a worker keeps, gets their rendered list without a query.

`RECSYS_WARM_READERS=0` turns all three off. Warming only uses lulls: a slice of `SLICE` lists (each
a few hundred microseconds) starts only when no request came in for `LULL_SECONDS`, so requests
never queue behind it; under a steady load the lists are made as readers ask, as without
warming. A pass stops when the served model or the rules change and the next one starts over.
Lists are made only for pseudonyms; no reader id is logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from recsys.db.reader_state import recent_readers
from recsys.lists.ahead import BLOCK, default_list
from recsys.lists.query import ListQuery
from recsys.lists.rendered import DEFAULT_QUERY, RenderedLists, RenderedListsWriter, lists_key
from recsys.service import answers
from recsys.service.freed_memory import return_freed_memory
from recsys.service.front import reader_answer

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel

logger = logging.getLogger(__name__)

#: Lists made between two looks at waiting requests.
SLICE = 2
#: How often at most a worker looks for a new list version (a curation change shows here).
WARM_POLL_SECONDS = 1.0
#: Readers whose kept fingerprint is looked up between two looks at waiting requests.
SCAN = 10_000
#: How long no request must have come in before a slice of warming starts.
LULL_SECONDS = 0.01


class ListWarmer:
    """Makes the likeliest lists after the start and after each new list version."""

    def __init__(self, state: Any, max_readers: int) -> None:
        self._state = state
        self.max_readers = max_readers
        self._warmed: Hashable = None  # the list version the last finished pass made lists for
        self._started = False  # whether the recent readers were warmed (once per worker)
        self.passes = 0  # finished passes (the tests and the log read it)
        self.made = 0  # lists made by the last finished pass
        self.rendered = 0  # lists this worker rendered for every worker (the tests read it)
        self._unshared: Hashable = None  # a list version whose folder could not be written
        #: (`ReaderStates.fingerprints_lost_at`, the served model's version) when fingerprints were
        #: last read
        self._fingerprinted: tuple[int, str] | None = None

    @property
    def pending(self) -> bool:
        """Whether the served list version still awaits its warming pass, or the listed
        readers their fingerprints."""
        return self._unwarmed() is not None or self._unfingerprinted()

    def _unfingerprinted(self) -> bool:
        """Whether every listed reader's fingerprint is worth reading now and was not read for
        the served model since they were last lost (`ReaderStates.fingerprints_lost_at`), while
        the store vouches for what is kept (on PostgreSQL, while its notices are followed)."""
        states = self._state.reader_states
        served = self._state.store.served
        return (
            self.max_readers > 0
            and served is not None
            and states.keeps_every_fingerprint
            and states.kept_between_requests
            and (states.fingerprints_lost_at, served.version) != self._fingerprinted
        )

    def _unwarmed(self) -> tuple[ServedModel, Hashable] | None:
        """The served model and its list version, if this worker still has to warm them."""
        served: ServedModel | None = self._state.store.served
        if self.max_readers == 0 or served is None:
            return None
        version = answers.version_of(served, self._state.curation.current(served))
        return None if version == self._warmed else (served, version)

    async def warm(self) -> None:
        """One pass, if the served list version is new to this worker; then every listed
        reader's fingerprint, if not read since everything kept was last dropped."""
        unwarmed = self._unwarmed()
        if unwarmed is not None:
            await self._warm_version(*unwarmed)
        elif self._unfingerprinted():
            await self._fingerprint_everyone(self._state.store.served)

    async def _warm_version(self, served: ServedModel, version: Hashable) -> None:
        if version != self._unshared and not await self._replay(served, version):
            return  # another worker renders them, or the served lists are not all in yet
        store = self._state.store
        started = time.perf_counter()
        keys = await self._likeliest()
        made = 0
        cache = self._state.caches.reader
        for position, (pseudonym, query) in enumerate(keys):
            if store.served is not served:
                return  # a newer model: the next pass warms that one
            if cache.full(version):
                break
            if position % BLOCK == 0:  # their states in a few statements, not one per reader
                readers = dict.fromkeys(reader for reader, _ in keys[position : position + BLOCK])
                await asyncio.to_thread(self._state.reader_states.read_many, list(readers))
            try:
                await reader_answer(self._state, store, served, pseudonym, query)
            except Exception as error:  # the reader's request will report it
                logger.debug("warming one list failed: %s", type(error).__name__)
            else:
                made += 1
            if position % SLICE == SLICE - 1:
                await self._lull()
        replaced = self._warmed is not None  # lists of an earlier version were let go
        self._warmed, self._started = version, True
        self.passes += 1
        self.made = made
        if replaced:
            await asyncio.to_thread(return_freed_memory)
        logger.info(
            "warmed %d readers' lists for model %s in %.1f s",
            made,
            served.version,
            time.perf_counter() - started,
        )

    async def _fingerprint_everyone(self, served: ServedModel) -> None:
        """Keep every listed reader's fingerprint not kept yet, a block per query, in lulls."""
        states = self._state.reader_states
        if not states.vouched():  # on SQLite, drops what a write since the last look outdated
            return
        lost = states.fingerprints_lost_at
        started = time.perf_counter()
        listed = iter(served.readers.index)
        missing: list[str] = []
        while scanned := list(itertools.islice(listed, SCAN)):  # 590k readers at 10M loans
            missing += states.unfingerprinted(scanned)
            await asyncio.sleep(0)  # let waiting requests in between slices
        for start in range(0, len(missing), BLOCK):
            await self._lull()
            if self._state.store.served is not served:
                return  # the next call reads the new model's readers
            block = missing[start : start + BLOCK]
            if not await asyncio.to_thread(states.read_fingerprints, block):
                return  # the store does not vouch now: the next call tries again
        self._fingerprinted = (lost, served.version)
        logger.info(
            "kept %d listed readers' fingerprints in %.1f s",
            len(missing),
            time.perf_counter() - started,
        )

    async def _replay(self, served: ServedModel, version: Hashable) -> bool:
        """Whether this worker replays the version's rendered lists now: opened, or rendered
        here and placed. False when they cannot be yet (another worker renders them, this
        worker's lists are not all in, the version changed meanwhile)."""
        state = self._state
        if state.replays.ready(version):
            return True
        if not served.readers.complete:
            return False
        curation = state.curation.current(served)
        key = lists_key(served, curation.version, state.reader_states.consent_rule, DEFAULT_QUERY)
        readers = len(served.readers)
        lists = RenderedLists.open(served.bundle.path, key, readers)
        if lists is None:
            try:
                writer = RenderedListsWriter.claim(served.bundle.path, key, readers)
                if writer is None:
                    return False
                lists = await self._render(writer, served, version)
            except OSError as error:
                logger.warning(
                    "readers' lists not rendered for every worker: %s", type(error).__name__
                )
                self._unshared = version
                return True
        if lists is not None:
            state.replays.use(version, served, curation.version, lists)
        return lists is not None

    async def _render(
        self, writer: RenderedListsWriter, served: ServedModel, version: Hashable
    ) -> RenderedLists | None:
        """Every listed reader's default list into `writer`, in lulls; placed and opened, or
        None (and nothing placed) when the list version changed meanwhile."""
        state = self._state
        started = time.perf_counter()
        listed = served.readers.index.in_order()
        try:
            for start in range(0, len(listed), BLOCK):
                block = listed[start : start + BLOCK]
                states = await asyncio.to_thread(
                    state.reader_states.read_many, [pseudonym for pseudonym, _ in block]
                )
                for step, (pseudonym, position) in enumerate(block):
                    if step % SLICE == 0:
                        await self._lull()
                    curation = state.curation.current(served)
                    if (
                        state.store.served is not served
                        or answers.version_of(served, curation) != version
                    ):
                        return None
                    reader_state = states[pseudonym]
                    made = default_list(served, curation, pseudonym, reader_state)
                    if made is not None and reader_state.fingerprint is not None:
                        writer.add(position, made, reader_state.fingerprint)
            lists = await asyncio.to_thread(writer.finish)
        finally:
            writer.abandon()
        self.rendered = writer.added
        logger.info(
            "rendered %d readers' lists of model %s for every worker in %.1f s",
            writer.added,
            served.version,
            time.perf_counter() - started,
        )
        return lists

    async def _lull(self) -> None:
        """Return once no request came in for `LULL_SECONDS` (at once when none did)."""
        await asyncio.sleep(0)  # let waiting requests in
        while time.monotonic() - self._state.last_request < LULL_SECONDS:
            await asyncio.sleep(LULL_SECONDS)

    async def _likeliest(self) -> list[tuple[str, ListQuery]]:
        """The (pseudonym, query) pairs to make: those asked before, then (once per worker)
        the recent readers' default lists, at most `max_readers` in all."""
        keys: dict[tuple[str, ListQuery], None] = dict.fromkeys(
            self._state.caches.reader.recent_keys()
        )
        if not self._started and len(keys) < self.max_readers:
            engine = self._state.engine
            readers = await asyncio.to_thread(recent_readers, engine, self.max_readers)
            for pseudonym in readers:
                keys.setdefault((pseudonym, DEFAULT_QUERY), None)
        return list(keys)[: self.max_readers]
