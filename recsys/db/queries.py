"""Reads and deletes on the store: keyword-only functions, bound parameters only.

Times are stored as Unix seconds (UTC) and returned as timezone-aware UTC datetimes.
`reader_id` arguments and columns are pseudonyms, never raw library ids.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals
from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Engine,
    Select,
    Table,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import CATALOG_COLUMNS, HOLDINGS_COLUMNS, INTERACTION_COLUMNS, Dataset
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db.tables import (
    catalog,
    holdings,
    loans,
    reader_categories,
    reader_exclusions,
    reader_feedback,
    views,
)
from recsys.db.works import effective_works, record_series

READ_CHUNK_ROWS = 500_000
SECONDS_PER_DAY = 86_400
DAY = "day"
LOANS = "loans"


def load_dataset(
    engine: Engine,
    *,
    since: int | None = None,
    until: int | None = None,
    include_views: bool = True,
) -> Dataset:
    """Loans, renewals and holds (plus views of logged-in readers) with catalog and holdings.

    `since` (inclusive) and `until` (exclusive) are Unix seconds bounding the event time. Rows
    with an id longer than `MAX_ID_LENGTH` (stored before ingest checked ids) are left out; the
    nightly's validate step counts them (`count_overlong_ids`).
    """
    parts = [_read_interactions(engine, _loan_query(since, until))]
    if include_views:
        parts.append(_read_interactions(engine, _view_query(since, until)))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return Dataset(interactions=frame, catalog=load_catalog(engine), holdings=load_holdings(engine))


def reader_history(engine: Engine, *, reader_id: str) -> pd.DataFrame:
    """One reader's loans and views, oldest first: ``[book_id, event, timestamp]``.

    Both lookups use an index whose first column is ``reader_id``.
    """
    loan_rows = select(
        loans.c.book_id, loans.c.event, loans.c.borrowed_at.label(C.TIMESTAMP)
    ).where(loans.c.reader_id == reader_id)
    view_rows = select(
        views.c.book_id, literal(Events.VIEW).label(C.EVENT), views.c.viewed_at.label(C.TIMESTAMP)
    ).where(views.c.reader_id == reader_id)
    with engine.connect() as connection:
        rows = [*connection.execute(loan_rows), *connection.execute(view_rows)]
    frame = pd.DataFrame(rows, columns=[C.BOOK_ID, C.EVENT, C.TIMESTAMP])
    frame[C.BOOK_ID] = frame[C.BOOK_ID].astype(str)
    frame[C.EVENT] = frame[C.EVENT].astype(str)
    frame[C.TIMESTAMP] = _utc(frame[C.TIMESTAMP].to_numpy(dtype=np.int64))
    return frame.sort_values(C.TIMESTAMP, kind="stable").reset_index(drop=True)


def load_catalog(engine: Engine) -> pd.DataFrame:
    """The catalog with the canonical columns and ``series``; ``year`` as nullable Int64.

    ``work_id`` is each record's effective work (`recsys.db.works.effective_works`: a
    librarian's split or merge, else the catalog's own ``work_id``, else the work derived from
    the records), which is what the models and the service group editions by.
    """
    query = (
        select(*(catalog.c[name] for name in CATALOG_COLUMNS))
        .where(*_ids_fit(catalog))
        .order_by(catalog.c.book_id)
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=list(CATALOG_COLUMNS))
    frame[C.YEAR] = frame[C.YEAR].astype("Int64")
    work = effective_works(engine).set_index(C.BOOK_ID)[C.WORK_ID]
    frame[C.WORK_ID] = frame[C.BOOK_ID].map(work).astype(object)
    # a MARC catalog's numbered series (490/830) live in the records' stored evidence
    series = frame[C.BOOK_ID].map(record_series(engine)).astype(object)
    frame[C.SERIES] = series.where(series.notna(), None)
    return frame


def load_holdings(engine: Engine) -> pd.DataFrame:
    """Copies per book and library: ``[book_id, library_id, copies, available]``."""
    query = (
        select(*(holdings.c[name] for name in HOLDINGS_COLUMNS))
        .where(*_ids_fit(holdings))
        .order_by(holdings.c.book_id, holdings.c.library_id)
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=list(HOLDINGS_COLUMNS))
    for name in (C.COPIES, C.AVAILABLE):
        frame[name] = frame[name].astype("int64")
    return frame


def count_loans(engine: Engine, *, since: int | None = None, until: int | None = None) -> int:
    """Number of stored loan events (loans, renewals, holds) in ``[since, until)``."""
    query = _between(select(func.count()).select_from(loans), loans.c.borrowed_at, since, until)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def loans_per_day(engine: Engine, *, since: int | None = None) -> pd.DataFrame:
    """Loan events per UTC day: ``[day, loans]`` with ``day`` a UTC midnight, oldest first."""
    day = (loans.c.borrowed_at // SECONDS_PER_DAY).label(DAY)
    query = _between(select(day, func.count().label(LOANS)), loans.c.borrowed_at, since, None)
    query = query.group_by(day).order_by(day)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    days = np.array([row[0] for row in rows], dtype=np.int64) * SECONDS_PER_DAY
    counts = np.array([row[1] for row in rows], dtype=np.int64)
    return pd.DataFrame({DAY: _utc(days), LOANS: counts})


def readers_per_book(
    engine: Engine, *, days: int | None, min_readers: int
) -> list[tuple[str | None, str, int]]:
    """(library, book, distinct readers) of the loan events in the last `days` before the newest
    loan (all of them for None), for the books at least `min_readers` readers borrowed there."""
    readers = func.count(func.distinct(loans.c.reader_id))
    query = (
        select(loans.c.library_id, loans.c.book_id, readers)
        .where(loans.c.event.in_(Events.LOAN_EVENTS))
        .group_by(loans.c.library_id, loans.c.book_id)
        .having(readers >= min_readers)
    )
    with engine.connect() as connection:
        newest = connection.execute(select(func.max(loans.c.borrowed_at))).scalar()
        if newest is None:
            return []
        if days is not None:
            query = query.where(loans.c.borrowed_at > int(newest) - days * SECONDS_PER_DAY)
        return [(library, book, int(count)) for library, book, count in connection.execute(query)]


def newest_loan_at(engine: Engine) -> int | None:
    """Unix seconds of the newest stored loan event (None when there is none)."""
    with engine.connect() as connection:
        newest = connection.execute(select(func.max(loans.c.borrowed_at))).scalar()
    return None if newest is None else int(newest)


def loans_per_period(engine: Engine, *, newest: int, periods: int, seconds: int) -> list[int]:
    """Loan counts of the `periods` periods of `seconds` ending at `newest`, newest first.

    Period k holds the loans with
    ``newest - (k+1) * seconds < borrowed_at <= newest - k * seconds``.
    """
    period = ((newest - loans.c.borrowed_at) // seconds).label("period")
    query = (
        select(period, func.count())
        .where(loans.c.borrowed_at > newest - periods * seconds)
        .group_by("period")
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    counts = [0] * periods
    for index, count in rows:
        if 0 <= int(index) < periods:
            counts[int(index)] += int(count)
    return counts


def recent_readers(engine: Engine, *, limit: int) -> list[str]:
    """Up to `limit` distinct readers of the newest loans, newest first (uses the time index).

    Reads 25 loans per reader wanted, so readers with many recent loans do not crowd it out."""
    query = select(loans.c.reader_id).order_by(loans.c.borrowed_at.desc()).limit(limit * 25)
    with engine.connect() as connection:
        found = list(dict.fromkeys(connection.execute(query).scalars()))
    return found[:limit]


def loan_reader_ids(engine: Engine) -> list[str]:
    """Every reader with a stored loan event, sorted (pseudonyms)."""
    with engine.connect() as connection:
        return sorted(connection.execute(select(loans.c.reader_id).distinct()).scalars())


def count_overlong_ids(engine: Engine) -> dict[str, int]:
    """Stored rows per table that `load_dataset` leaves out: an id over `MAX_ID_LENGTH`."""
    counts = {}
    with engine.connect() as connection:
        for table in (loans, views, catalog, holdings):
            query = select(func.count()).select_from(table).where(~and_(*_ids_fit(table)))
            counts[table.name] = int(connection.execute(query).scalar_one())
    return counts


def delete_events_before(engine: Engine, *, cutoff: int) -> dict[str, int]:
    """Retention: delete loans, views and feedback older than `cutoff` (Unix seconds), and
    exclusions as old whose book the reader no longer has a stored loan of; counts per table."""
    loan_of_pair = (
        select(loans.c.loan_id)
        .where(
            loans.c.reader_id == reader_exclusions.c.reader_id,
            loans.c.book_id == reader_exclusions.c.book_id,
        )
        .exists()
    )
    with engine.begin() as connection:
        deleted = {
            "loans": _delete(connection, delete(loans).where(loans.c.borrowed_at < cutoff)),
            "views": _delete(connection, delete(views).where(views.c.viewed_at < cutoff)),
            "feedback": _delete(
                connection, delete(reader_feedback).where(reader_feedback.c.given_at < cutoff)
            ),
        }
        deleted["exclusions"] = _delete(
            connection,
            delete(reader_exclusions).where(
                reader_exclusions.c.excluded_at < cutoff, ~loan_of_pair
            ),
        )
    return deleted


def delete_reader(connection: Connection, *, reader_id: str) -> dict[str, int]:
    """Erasure: delete every loan, view, feedback, exclusion and the category of one
    pseudonymous reader; counts per table.

    Takes a connection, not an engine, so that `recsys.erasure` records the refusal of consent
    in the same transaction.
    """
    return {
        "loans": _delete(connection, delete(loans).where(loans.c.reader_id == reader_id)),
        "views": _delete(connection, delete(views).where(views.c.reader_id == reader_id)),
        "feedback": _delete(
            connection, delete(reader_feedback).where(reader_feedback.c.reader_id == reader_id)
        ),
        "exclusions": _delete(
            connection,
            delete(reader_exclusions).where(reader_exclusions.c.reader_id == reader_id),
        ),
        "categories": _delete(
            connection,
            delete(reader_categories).where(reader_categories.c.reader_id == reader_id),
        ),
    }


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


def _delete(connection: Connection, statement: Delete) -> int:
    return int(connection.execute(statement).rowcount)


def _between(query: Select[Any], column: Any, since: int | None, until: int | None) -> Select[Any]:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _loan_query(since: int | None, until: int | None) -> Select[Any]:
    query = select(
        loans.c.reader_id,
        loans.c.book_id,
        loans.c.event,
        loans.c.borrowed_at.label(C.TIMESTAMP),
        loans.c.library_id,
    )
    return _between(query.where(*_ids_fit(loans)), loans.c.borrowed_at, since, until)


def _view_query(since: int | None, until: int | None) -> Select[Any]:
    query = select(
        views.c.reader_id,
        views.c.book_id,
        literal(Events.VIEW).label(C.EVENT),
        views.c.viewed_at.label(C.TIMESTAMP),
        literal(None).label(C.LIBRARY_ID),
    ).where(views.c.reader_id.is_not(None), *_ids_fit(views))
    return _between(query, views.c.viewed_at, since, until)


def _ids_fit(table: Table) -> list[ColumnElement[bool]]:
    """Conditions that each id column the training data read is empty or short enough."""
    return [
        or_(column.is_(None), func.length(column) <= MAX_ID_LENGTH)
        for column in (table.c[name] for name in _LOADED_IDS if name in table.c)
    ]


#: The id columns `load_dataset` reads (reader ids are pseudonyms of a fixed length).
_LOADED_IDS = (C.BOOK_ID, C.LIBRARY_ID, C.WORK_ID)


def _read_interactions(engine: Engine, query: Select[Any]) -> pd.DataFrame:
    """Stream rows in chunks; string columns are interned per chunk as categoricals.

    Ten million rows repeat a few hundred thousand ids: interning keeps one Python string per
    distinct id instead of one per row, and the cyclic GC is paused while millions of short-lived
    tuples are made (it would otherwise rescan them over and over).
    """
    strings: dict[str, list[pd.Categorical]] = {name: [] for name in _STRING_COLUMNS}
    times: list[np.ndarray] = []
    with _gc_paused(), engine.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(query)
        while rows := result.fetchmany(READ_CHUNK_ROWS):
            columns = dict(zip(_QUERY_COLUMNS, zip(*rows, strict=True), strict=True))
            for name in _STRING_COLUMNS:
                codes, uniques = pd.factorize(np.array(columns[name], dtype=object))
                strings[name].append(pd.Categorical.from_codes(codes, pd.Index(uniques)))
            times.append(np.array(columns[C.TIMESTAMP], dtype=np.int64))
    frame = pd.DataFrame({name: _as_str(chunks) for name, chunks in strings.items()})
    frame[C.TIMESTAMP] = _utc(np.concatenate(times) if times else np.empty(0, dtype=np.int64))
    return frame[list(INTERACTION_COLUMNS)]


_QUERY_COLUMNS = (C.READER_ID, C.BOOK_ID, C.EVENT, C.TIMESTAMP, C.LIBRARY_ID)
_STRING_COLUMNS = (C.READER_ID, C.BOOK_ID, C.EVENT, C.LIBRARY_ID)


def _as_str(chunks: list[pd.Categorical]) -> pd.Series:
    if not chunks:
        return pd.Series(dtype=str)
    merged = union_categoricals(chunks) if len(chunks) > 1 else chunks[0]
    return pd.Series(merged).astype(str)


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _utc(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True))
