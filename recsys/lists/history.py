"""One reader's consent and loans in a single database round trip, as plain arrays.

The per-reader route needs both on every request (an objection is honoured from the next request
on), and only loan events: a view is not a borrowing. One UNION ALL statement answers both (the
first row carries the consent answer), and numpy arrays replace the DataFrame that only a
fold-in, a rare case, needs. `SqliteHistory` runs the same statement on a raw sqlite3
connection, for the event loop's fast path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Engine,
    Integer,
    String,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import ConsentMode, allowed
from recsys.db.tables import consent, loans


@dataclass(frozen=True)
class LoanHistory:
    """A reader's loan events, oldest first (`seconds`: Unix time)."""

    book_ids: list[str]
    events: list[str]
    seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.book_ids)

    def latest_first(self) -> list[str]:
        """Book ids from the newest loan back (ties: the later row first)."""
        return self.book_ids[::-1]

    def newer_than(self, reference: float | None) -> LoanHistory:
        """The events after `reference` (none when the model has no reference time)."""
        if reference is None or not self.book_ids or self.seconds[-1] <= reference:
            return LoanHistory([], [], self.seconds[:0])  # oldest first: the last is the newest
        keep = np.flatnonzero(self.seconds > reference)
        return LoanHistory(
            [self.book_ids[i] for i in keep], [self.events[i] for i in keep], self.seconds[keep]
        )

    def frame(self, reader: str) -> pd.DataFrame:
        """The events as the models' `history` frame."""
        return pd.DataFrame(
            {
                C.READER_ID: pd.Series([reader] * len(self), dtype=object),
                C.BOOK_ID: pd.Series(self.book_ids, dtype=object),
                C.EVENT: pd.Series(self.events, dtype=object),
                C.TIMESTAMP: pd.to_datetime(self.seconds, unit="s", utc=True),
            }
        )


EMPTY_HISTORY = LoanHistory([], [], np.empty(0, dtype=np.int64))


def _statement() -> CompoundSelect[Any]:
    reader: BindParameter[str] = bindparam("reader", type_=String())
    answer = select(consent.c.consented).where(consent.c.reader_id == reader)
    first = select(
        literal(0, Integer).label("kind"),
        cast(answer.scalar_subquery(), Integer).label("consented"),
        cast(null(), String).label("book_id"),
        cast(null(), String).label("event"),
        literal(0, Integer).label("at"),
    )
    rows = select(
        literal(1, Integer),
        cast(null(), Integer),
        loans.c.book_id,
        loans.c.event,
        loans.c.borrowed_at,
    ).where(
        loans.c.reader_id == reader,
        loans.c.event.in_([literal(e, String) for e in Events.LOAN_EVENTS]),
    )
    return union_all(first, rows)


#: Built once: SQLAlchemy then reuses its compiled form on every request.
CONSENT_AND_LOANS = _statement()


def consent_and_loans(engine: Engine, settings: Settings, *, reader_id: str) -> LoanHistory | None:
    """The reader's (a pseudonym) loans, or None when they may not get personal suggestions."""
    with engine.connect() as connection:
        rows = connection.execute(CONSENT_AND_LOANS, {"reader": reader_id}).all()
    return history_from_rows(rows, settings.consent_mode)


def history_from_rows(rows: Sequence[Sequence[Any]], mode: ConsentMode) -> LoanHistory | None:
    """`consent_and_loans` from the statement's rows (kind, consented, book_id, event, at)."""
    head = next(r for r in rows if r[0] == 0)
    answer = None if head[1] is None else bool(head[1])
    if not allowed(answer, mode):
        return None
    events = sorted((r for r in rows if r[0] == 1), key=_EVENT_ORDER)
    if not events:
        return EMPTY_HISTORY
    _, _, books, kinds, seconds = zip(*events, strict=True)
    return LoanHistory(list(books), list(kinds), np.asarray(seconds, dtype=np.int64))


_EVENT_ORDER = itemgetter(4, 2, 3)  # time, then book and event for a stable order


class SqliteHistory:
    """`consent_and_loans` on one raw sqlite3 connection kept open, for the event loop's thread.

    The per-reader fast path (`recsys.service.reader_cache`) runs this indexed query inline: it
    takes tens of microseconds, less than a hop to the threadpool, and without SQLAlchemy's
    pool and result objects. Each call is its own read (autocommit), so a consent answer or an
    erasure written by any process is seen by the next request. A short busy timeout: a locked
    database raises at once and the caller answers through the threadpool instead.
    """

    BUSY_TIMEOUT_MS = 20

    def __init__(self, engine: Engine, settings: Settings) -> None:
        if not self.supports(engine):
            raise ValueError(f"SqliteHistory needs a SQLite file; got {engine.url!r}")
        compiled = CONSENT_AND_LOANS.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or ())
        self._fixed = dict(compiled.params)
        self._database = engine.url.database or ""
        self._mode = settings.consent_mode
        self._connection: sqlite3.Connection | None = None

    @staticmethod
    def supports(engine: Engine) -> bool:
        """Whether `engine` is a plain SQLite file this class can open by its path."""
        url = engine.url
        return (
            engine.dialect.name == "sqlite"
            and bool(url.database)
            and url.database != ":memory:"
            and not url.query
        )

    def __call__(self, reader_id: str) -> LoanHistory | None:
        """The reader's loans, or None when they may not get personal suggestions."""
        return history_from_rows(self.rows(reader_id), self._mode)

    def rows(self, reader_id: str) -> list[tuple[Any, ...]]:
        """The statement's rows, for `history_from_rows`."""
        params = [reader_id if n == "reader" else self._fixed[n] for n in self._names]
        connection = self._connection or self._connect()
        try:
            return connection.execute(self._sql, params).fetchall()
        except sqlite3.Error:
            self.close()  # reopened on the next call
            raise

    @property
    def consent_mode(self) -> ConsentMode:
        return self._mode

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._database,
            timeout=self.BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
