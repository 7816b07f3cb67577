"""A reader's consent answer and loans for the front door, kept between requests while the store
says they have not changed.

A per-reader list needs both, and an objection, an erasure or a new loan must change the answer
within a second of being written, whichever process wrote it. Reading them per request costs a
query each; on two shared cores and PostgreSQL that caps the service at a fraction of its
speed. So each worker keeps what it read, for as long as the store vouches for it:

- SQLite: read inline on the event loop (`SqliteHistory`), kept until SQLite's change counter
  (``PRAGMA data_version``, asked on every request for a few microseconds) says another
  connection committed anything; then everything kept is dropped. It is asked on every request
  rather than now and then: an objection is honoured from the next request on (docs/privacy.md).
- PostgreSQL: kept while this worker follows the store's notices of changed readers
  (`recsys.db.reader_changes`, migration 0007): a notice drops the readers it names, ``*``
  drops everyone. While the notices are not followed (the listener is down or reconnecting, or
  the store lacks the triggers) nothing kept is used and every request reads the store in the
  threadpool, as the route does: correctness before speed. The log and the
  ``recsys_reader_state_kept`` gauge say which.
- Any other store (an in-memory SQLite): read per request.

A read that started before a notice about its reader arrived is not kept (its rows may predate
the change). At most `MAX_KEPT_READERS` readers are kept, the oldest dropped first.

Beyond those, a worker keeps every listed reader's fingerprint alone (the digest of their rows,
16 bytes), read after its start and after each swap (`recsys.service.warm`) and dropped as kept
states are (on SQLite all at once at any write): enough to replay a default list rendered ahead
for every worker from rows with that fingerprint (`recsys.service.replay`) without a query,
whoever asks, so a reader's first ask after a start or a swap costs no read of the store.
Readers appear here only as pseudonyms, never in the log.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine

from recsys.config import Settings
from recsys.consent import ConsentRule
from recsys.db import reader_changes
from recsys.db.reader_changes import ReaderChanges
from recsys.db.reader_state import SqliteHistory, reader_rows, readers_rows
from recsys.lists.ahead import states_of
from recsys.lists.personal import ReaderState
from recsys.lists.rendered import state_fingerprint

#: Readers whose state one worker keeps (a few kilobytes each).
MAX_KEPT_READERS = 50_000
#: Readers whose fingerprint alone one worker keeps (about a hundred bytes each).
MAX_KEPT_FINGERPRINTS = 1_000_000
#: Readers named by notices since the last clearing, kept to refuse reads that started before
#: their notice; beyond this many, everything is dropped instead.
MAX_DROPPED_READERS = 100_000


class KeptStates:
    """Reader states by pseudonym, with the tickets that keep a late read from going stale.

    `ticket()` before a read and `put(reader, state, ticket)` after it: the state is kept only
    when no change of that reader (or of everyone) was announced since the ticket.
    """

    def __init__(self, max_readers: int = MAX_KEPT_READERS) -> None:
        self.max_readers = max_readers
        self._states: dict[str, ReaderState] = {}
        self._fingerprints: dict[str, bytes] = {}
        self._changes = 0  # announcements so far: the tickets
        self._cleared_at = 0
        self._dropped: dict[str, int] = {}  # reader -> announcement that named them
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, reader: str) -> ReaderState | None:
        return self._states.get(reader)

    def fingerprint(self, reader: str) -> bytes | None:
        return self._fingerprints.get(reader)

    def ticket(self) -> int:
        return self._changes

    @property
    def cleared_at(self) -> int:
        """The announcement that last dropped everything kept (0: none yet)."""
        return self._cleared_at

    def put(self, reader: str, state: ReaderState, ticket: int) -> None:
        with self._lock:
            if self._cleared_at > ticket or self._dropped.get(reader, 0) > ticket:
                return
            self._states[reader] = state
            if len(self._states) > self.max_readers:
                del self._states[next(iter(self._states))]
            self._keep_fingerprint(reader, state.fingerprint)

    def put_fingerprints(self, fingerprints: dict[str, bytes | None], ticket: int) -> None:
        """Keep these readers' fingerprints alone (read under `ticket`)."""
        with self._lock:
            if self._cleared_at > ticket:
                return
            for reader, fingerprint in fingerprints.items():
                if self._dropped.get(reader, 0) <= ticket:
                    self._keep_fingerprint(reader, fingerprint)

    def _keep_fingerprint(self, reader: str, fingerprint: bytes | None) -> None:
        if fingerprint is None:
            self._fingerprints.pop(reader, None)
        elif reader in self._fingerprints or len(self._fingerprints) < MAX_KEPT_FINGERPRINTS:
            self._fingerprints[reader] = fingerprint

    def changed(self, readers: Sequence[str] | None) -> None:
        """These readers changed (None: any reader may have): forget what was kept of them."""
        with self._lock:
            self._changes += 1
            if readers is None or len(self._dropped) + len(readers) > MAX_DROPPED_READERS:
                self._states.clear()
                self._fingerprints.clear()
                self._dropped.clear()
                self._cleared_at = self._changes
                return
            for reader in readers:
                self._states.pop(reader, None)
                self._fingerprints.pop(reader, None)
                self._dropped[reader] = self._changes


class ReaderStates:
    """The front door's source of readers' consent answers and loans for one store."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._rule = ConsentRule.of(settings)
        self._kept = KeptStates(MAX_KEPT_READERS)
        self._sqlite = SqliteHistory(engine, settings) if SqliteHistory.supports(engine) else None
        self._stamp: Hashable = None
        self._changes = (
            ReaderChanges(engine, self._kept.changed)
            if self._sqlite is None and reader_changes.supports(engine)
            else None
        )

    def start(self) -> None:
        """Start following the store's notices (PostgreSQL)."""
        if self._changes is not None:
            self._changes.start()

    def close(self) -> None:
        if self._changes is not None:
            self._changes.close()
        if self._sqlite is not None:
            self._sqlite.close()

    @property
    def consent_rule(self) -> ConsentRule:
        return self._rule

    @property
    def inline(self) -> bool:
        """Whether `read` is cheap enough for the event loop (SQLite)."""
        return self._sqlite is not None

    @property
    def kept_between_requests(self) -> bool:
        """Whether states are kept now (else every request reads the store)."""
        if self._changes is not None:
            return self._changes.following
        return self._sqlite is not None

    def vouched(self) -> bool:
        """Whether what is kept may be used now; on SQLite, after dropping all of it if the
        change counter moved since the last look (`sqlite3.Error` when the database fails)."""
        if self._sqlite is not None:
            self._check_sqlite()
            return True
        return self.kept_between_requests

    def kept(self, reader: str) -> ReaderState | None:
        """The reader's state if it is kept and still vouched for; no query but SQLite's
        change counter."""
        return self._kept.get(reader) if self.vouched() else None

    def kept_fingerprint(self, reader: str) -> bytes | None:
        """The reader's fingerprint if it is kept and still vouched for, as `kept`."""
        return self._kept.fingerprint(reader) if self.vouched() else None

    def kept_or_fingerprint(self, reader: str) -> tuple[ReaderState | None, bytes | None]:
        """`kept`, else `kept_fingerprint` (the front door's question), with one look at the
        store."""
        if not self.vouched():
            return None, None
        state = self._kept.get(reader)
        return (state, None) if state is not None else (None, self._kept.fingerprint(reader))

    def unfingerprinted(self, readers: Iterable[str]) -> list[str]:
        """Those of `readers` whose fingerprint is not kept or no longer vouched for, after one
        look at the store (`kept_fingerprint` of each would ask SQLite's counter each time)."""
        if not self.vouched():
            return list(readers)
        return [reader for reader in readers if self._kept.fingerprint(reader) is None]

    @property
    def keeps_every_fingerprint(self) -> bool:
        """Whether every listed reader's fingerprint is worth reading ahead: the store vouches
        for what is kept between requests (SQLite's change counter, which drops everything at
        any write; PostgreSQL's notices, which name the readers who changed)."""
        return self._sqlite is not None or self._changes is not None

    @property
    def fingerprints_lost_at(self) -> int:
        """Changes each time every kept fingerprint was dropped and is worth reading again
        ahead: on PostgreSQL, when its notices were interrupted (rare). Never on SQLite, where
        any write drops them all: reading every listed reader's again costs a worker about as
        much per reader as one read when that reader asks (README, the service bench's notes),
        and most readers do not ask before the next write, so after a write a reader's state is
        read at their next ask and the fingerprints are read ahead again at the next model."""
        return self._kept.cleared_at if self._changes is not None else 0

    def _check_sqlite(self) -> None:
        """Drop everything kept if SQLite's change counter moved since the last request."""
        assert self._sqlite is not None
        stamp = self._sqlite.change_stamp()
        if stamp != self._stamp:
            self._kept.changed(None)
            self._stamp = stamp

    def read(self, reader: str) -> ReaderState:
        """Read the reader's state from the store, and keep it when the store vouches for it."""
        ticket = self._kept.ticket()
        following = self.kept_between_requests
        if self._sqlite is not None:
            rows: Sequence[Any] = self._sqlite.rows(reader)
        else:
            rows = reader_rows(self._engine, reader_id=reader)
        state = ReaderState.of_rows(rows, self._rule)
        if following:
            self._kept.put(reader, state, ticket)
        return state

    def read_many(self, readers: Sequence[str]) -> dict[str, ReaderState]:
        """`read` of many readers in a few statements per `READERS_PER_STATEMENT` (warming,
        rendering): on PostgreSQL one round trip per reader would take minutes per pass. Kept
        under one ticket taken before the first statement, so a notice about any of them that
        arrives meanwhile keeps that reader's state out."""
        ticket = self._kept.ticket()
        following = self.kept_between_requests
        states = states_of(readers_rows(self._engine, readers), self._rule)
        if following:
            for reader, state in states.items():
                self._kept.put(reader, state, ticket)
        return states

    def read_fingerprints(self, readers: Sequence[str]) -> bool:
        """Read these readers' rows and keep their fingerprints alone (as `read_many`, under
        one ticket); False when the store does not vouch for kept states now (nothing kept)."""
        ticket = self._kept.ticket()
        if not self.kept_between_requests:
            return False
        rows = readers_rows(self._engine, readers)
        self._kept.put_fingerprints(
            {reader: state_fingerprint(found) for reader, found in rows.items()}, ticket
        )
        return True
