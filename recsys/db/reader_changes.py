"""Follow PostgreSQL's notices of changed readers on one dedicated connection.

Migration 0007 makes every transaction that writes a table the service reads per reader
(`TRIGGERS`: consent, category, loans, feedback, exclusions) notify, at commit, the
channel ``recsys_readers:<schema>`` with each reader it touched, or with ``*`` for many readers.
`ReaderChanges` listens on that channel in a thread of its own and hands each notice to a
callback, so a service worker can keep readers' rows between requests and drop them the moment
another process changes them.

Correctness comes before speed: `following` is true only while the connection has proved
alive within the last `LIVENESS_SECONDS` (a round trip every `HEARTBEAT_SECONDS`), so a lost
connection makes the caller read per request within a second at most. Each proof counts from
the moment its round trip's notices are handed over, before the wait for more: counted after the
wait, a loaded machine's slow round trips ate the margin and `following` lapsed now and then.
After every (re)connect the callback hears ``None`` (everything may have changed while no one
listened) before `following` turns true. Notices name pseudonyms: they are never logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import psycopg
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "recsys_readers:"
#: The notice that names no reader: any reader may have changed.
EVERYONE = "*"
#: The listener proves its connection alive this often ...
HEARTBEAT_SECONDS = 0.2
#: ... and is trusted for this long after the last proof (then callers read per request).
LIVENESS_SECONDS = 0.6
#: Waits between attempts to reconnect, doubling up to the last.
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "recsys reader changes"
#: The triggers migration 0007 creates on each table read per reader.
TRIGGERS = {
    table: "recsys_reader_changed"
    for table in ("loans", "consent", "reader_categories", "reader_feedback", "reader_exclusions")
}

_SCHEMA_OF_LOANS = (
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('loans')"
)
_TRIGGERS_PRESENT = (
    "SELECT count(*) FROM pg_trigger WHERE tgname = %s AND tgrelid = to_regclass(%s) "
    "AND tgenabled <> 'D'"
)


def supports(engine: Engine) -> bool:
    """Whether `engine`'s database can send notices (PostgreSQL through psycopg)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


#: Called with the readers a notice names, or None: every reader may have changed.
OnChange = Callable[[list[str] | None], None]


class ReaderChanges:
    """A thread listening for notices of changed readers; see the module docstring."""

    def __init__(self, engine: Engine, on_change: OnChange) -> None:
        if not supports(engine):
            raise ValueError(f"ReaderChanges needs PostgreSQL through psycopg; got {engine.url!r}")
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        # which process listens, for an operator reading pg_stat_activity
        kwargs.setdefault("application_name", f"{APPLICATION_NAME} {os.getpid()}")
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        self._connect_args = (args, kwargs)
        self._on_change = on_change
        self._alive_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader-changes", daemon=True)

    @property
    def following(self) -> bool:
        """Whether every notice committed until a moment ago has reached the callback."""
        return time.monotonic() < self._alive_until

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop listening (waits for the thread, at most one heartbeat)."""
        self._stop.set()
        self._alive_until = 0.0
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------------------ thread
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:  # whatever failed, callers read per request meanwhile
                self._alive_until = 0.0
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                logger.warning(
                    "not following reader changes (%s): consent and loans are read on every "
                    "request until the notices are back (retrying in %.1f s)",
                    _reason(error),
                    wait,
                )
                failures += 1
                self._stop.wait(wait)
            else:
                failures = 0
        self._alive_until = 0.0

    def _listen(self) -> None:
        """Connect and LISTEN, then until stopped: prove the connection alive, hand over every
        notice that arrived, wait for more; raises when the connection fails."""
        args, kwargs = self._connect_args
        with psycopg.connect(*args, **kwargs, autocommit=True) as connection:
            channel = self._channel(connection)
            connection.execute(f'LISTEN "{channel}"')
            self._on_change(None)  # whatever changed while no one listened
            logger.info("following reader changes: consent and loans are kept between requests")
            while not self._stop.is_set():
                proved = time.monotonic()
                # a notice committed before this round trip arrives before its answer ...
                connection.execute("SELECT 1")
                # ... and is handed over here, so the proof holds from now, not after the wait
                self._hand_over(connection.notifies(timeout=0))
                self._alive_until = proved + LIVENESS_SECONDS
                self._hand_over(connection.notifies(timeout=HEARTBEAT_SECONDS))

    def _hand_over(self, notices: Iterable[psycopg.Notify]) -> None:
        """Each notice as it arrives: the reader it names, or None for everyone."""
        for notice in notices:
            self._on_change(None if notice.payload == EVERYONE else [notice.payload])

    @staticmethod
    def _channel(connection: psycopg.Connection[tuple[object, ...]]) -> str:
        """The channel of the schema that holds `loans`; `_Unfit` without the triggers."""
        row = connection.execute(_SCHEMA_OF_LOANS).fetchone()
        if row is None or row[0] is None:
            raise _Unfit("the store has no loans table")
        for table, trigger in TRIGGERS.items():
            found = connection.execute(_TRIGGERS_PRESENT, (trigger, table)).fetchone()
            if not found or not found[0]:
                raise _Unfit(
                    f"table {table} lacks trigger {trigger}: run `recsys db-upgrade` "
                    "(migration 0007)"
                )
        return (CHANNEL_PREFIX + str(row[0]))[:63]


class _Unfit(Exception):
    """The database cannot send the notices (no triggers yet)."""


def _reason(error: BaseException) -> str:
    """Why listening failed, without SQL parameters or notice payloads."""
    if isinstance(error, _Unfit):
        return str(error)
    return type(error).__name__
