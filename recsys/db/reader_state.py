"""One reader's state in a single database round trip: consent answer and category, loans,
feedback and exclusions.

The per-reader list needs all of it on every request. One UNION ALL statement answers it: rows
``(kind, consented, book_id, detail, at)`` whose kinds are `recsys.lists.history`'s (the head row
carries the consent answer and, in ``detail``, the category; a loan row its event; a feedback row
its kind; an exclusion row only its book and time); `recsys.lists.history.history_from_rows`
reads them. `SqliteHistory` runs the same statement on a raw sqlite3 connection, for the event
loop; `readers_rows` reads the same rows of many readers at once (warming, rendering ahead). A
change to any of the tables read here (``consent``, ``reader_categories``, ``loans``,
``reader_feedback``, ``reader_exclusions``) changes the rows, and so the answer. `SqliteHistory`
also tells when any other connection committed a change (`data_version`), so the service may
keep what it read until then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    CompoundSelect,
    Engine,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import ConsentRule
from recsys.db.tables import consent, loans, reader_categories, reader_exclusions, reader_feedback
from recsys.lists.history import (
    EXCLUSION,
    FEEDBACK,
    HEAD,
    LOAN,
    LoanHistory,
    history_from_rows,
)


def _event_rows(
    match: Callable[[Column[str]], ColumnElement[bool]], *, with_reader: bool
) -> list[Any]:
    """The loan, feedback and exclusion rows of the readers whose id column `match`es, each
    row led by the reader's id when `with_reader`."""

    def reader(table: Table) -> list[Column[str]]:
        return [table.c.reader_id] if with_reader else []

    return [
        select(
            *reader(loans),
            literal(LOAN, Integer),
            cast(null(), Integer),
            loans.c.book_id,
            loans.c.event,
            loans.c.borrowed_at,
        ).where(
            match(loans.c.reader_id),
            loans.c.event.in_([literal(e, String) for e in Events.LOAN_EVENTS]),
        ),
        select(
            *reader(reader_feedback),
            literal(FEEDBACK, Integer),
            cast(null(), Integer),
            reader_feedback.c.book_id,
            reader_feedback.c.kind,
            reader_feedback.c.given_at,
        ).where(match(reader_feedback.c.reader_id)),
        select(
            *reader(reader_exclusions),
            literal(EXCLUSION, Integer),
            cast(null(), Integer),
            reader_exclusions.c.book_id,
            cast(null(), String),
            reader_exclusions.c.excluded_at,
        ).where(match(reader_exclusions.c.reader_id)),
    ]


def _statement() -> CompoundSelect[Any]:
    reader: BindParameter[str] = bindparam("reader", type_=String())
    answer = select(consent.c.consented).where(consent.c.reader_id == reader)
    category = select(reader_categories.c.category).where(reader_categories.c.reader_id == reader)
    head = select(
        literal(HEAD, Integer).label("kind"),
        cast(answer.scalar_subquery(), Integer).label("consented"),
        cast(null(), String).label("book_id"),
        cast(category.scalar_subquery(), String).label("detail"),
        literal(0, Integer).label("at"),
    )
    return union_all(head, *_event_rows(lambda column: column == reader, with_reader=False))


#: Built once: SQLAlchemy then reuses its compiled form on every request.
CONSENT_AND_LOANS = _statement()


def reader_rows(engine: Engine, *, reader_id: str) -> list[Any]:
    """The statement's rows for the reader (a pseudonym)."""
    with engine.connect() as connection:
        return list(connection.execute(CONSENT_AND_LOANS, {"reader": reader_id}).all())


#: Readers per statement of `readers_rows` (their ids are bound parameters).
READERS_PER_STATEMENT = 2_000


def _readers_statements() -> tuple[CompoundSelect[Any], Select[Any], Select[Any]]:
    readers: BindParameter[list[str]] = bindparam("readers", expanding=True)
    events = union_all(*_event_rows(lambda column: column.in_(readers), with_reader=True))
    answers = select(consent.c.reader_id, cast(consent.c.consented, Integer)).where(
        consent.c.reader_id.in_(readers)
    )
    categories = select(reader_categories.c.reader_id, reader_categories.c.category).where(
        reader_categories.c.reader_id.in_(readers)
    )
    return events, answers, categories


READERS_EVENTS, READERS_CONSENT, READERS_CATEGORIES = _readers_statements()


def readers_rows(engine: Engine, reader_ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """`reader_rows` of every reader in `reader_ids` (pseudonyms), the same rows in a few
    statements per `READERS_PER_STATEMENT` readers instead of one round trip per reader."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for start in range(0, len(reader_ids), READERS_PER_STATEMENT):
            batch = {"readers": list(reader_ids[start : start + READERS_PER_STATEMENT])}
            answers = {r: c for r, c in connection.execute(READERS_CONSENT, batch)}
            categories = {r: c for r, c in connection.execute(READERS_CATEGORIES, batch)}
            for reader in batch["readers"]:
                head = (HEAD, answers.get(reader), None, categories.get(reader), 0)
                found[reader] = [head]
            for reader, *row in connection.execute(READERS_EVENTS, batch):
                found[reader].append(tuple(row))
    return found


def recent_readers(engine: Engine, limit: int) -> list[str]:
    """The pseudonyms of the `limit` readers whose latest loan event is newest, newest first:
    the readers likeliest to ask for their list next."""
    statement = (
        select(loans.c.reader_id)
        .where(loans.c.event.in_(Events.LOAN_EVENTS))
        .group_by(loans.c.reader_id)
        .order_by(func.max(loans.c.borrowed_at).desc(), loans.c.reader_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [str(reader) for reader in connection.execute(statement).scalars()]


def consent_and_loans(engine: Engine, settings: Settings, *, reader_id: str) -> LoanHistory | None:
    """What feeds the reader's (a pseudonym) lists, or None when they may not get personal
    suggestions."""
    return history_from_rows(reader_rows(engine, reader_id=reader_id), ConsentRule.of(settings))


class SqliteHistory:
    """`consent_and_loans` on one raw sqlite3 connection kept open, for the event loop's thread.

    The service's front door (`recsys.service.front`) runs this indexed query inline: it
    takes tens of microseconds, less than a hop to the threadpool, and without SQLAlchemy's
    pool and result objects. Each call is its own read (autocommit), so a consent answer or an
    erasure written by any process is seen by the next read. A short busy timeout: a locked
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
        self._rule = ConsentRule.of(settings)
        self._connection: sqlite3.Connection | None = None
        self._opened = 0

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
        """What feeds the reader's lists, or None when they may not get personal suggestions."""
        return history_from_rows(self.rows(reader_id), self._rule)

    def rows(self, reader_id: str) -> list[tuple[Any, ...]]:
        """The statement's rows, for `history_from_rows`."""
        params = [reader_id if n == "reader" else self._fixed[n] for n in self._names]
        connection = self._connection or self._connect()
        try:
            return connection.execute(self._sql, params).fetchall()
        except sqlite3.Error:
            self.close()  # reopened on the next call
            raise

    def change_stamp(self) -> tuple[int, int]:
        """Equal stamps mean no other connection (of any process) committed a change in
        between: SQLite's ``PRAGMA data_version``, which costs a few microseconds to ask, and
        the number of this connection (versions of different connections do not compare)."""
        connection = self._connection or self._connect()
        try:
            return self._opened, int(connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self.close()  # reopened on the next call
            raise

    @property
    def consent_rule(self) -> ConsentRule:
        return self._rule

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._database,
            timeout=self.BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
        self._connection = connection
        self._opened += 1
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
