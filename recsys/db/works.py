"""Works in the store: records' evidence and derived works, librarians' splits and merges.

Catalog ingest writes each record's evidence (`recsys.data.work_evidence`) to table
``book_works`` and then derives the works of the whole catalog again (`regroup`), in the file's
transaction. The catalog rows keep their fields as received. Table ``work_overrides`` holds the
librarians' decisions; `effective_works` combines everything into the work each record belongs to,
the ``work_id`` the models and the service see. Keyword-only functions, bound parameters only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from recsys.columns import Columns as C
from recsys.data import works
from recsys.data.work_evidence import EVIDENCE_COLUMNS, record_evidence, series_statements
from recsys.data.works_report import WorksReport, works_report
from recsys.db.tables import book_works, catalog, work_overrides
from recsys.display import readable
from recsys.exceptions import RecsysError, UnknownBookError

WRITE_BATCH_ROWS = 20_000
CREATED_AT = "created_at"
NOTE = "note"


def write_evidence(connection: Connection, *, evidence: pd.DataFrame) -> None:
    """Store (replace) the evidence of these records; their derived work waits for `regroup`."""
    if evidence.empty:
        return
    rows = evidence.drop_duplicates(C.BOOK_ID, keep="last")
    rows = rows.astype(object).where(rows.notna(), None)
    books = rows[C.BOOK_ID].tolist()
    for start in range(0, len(books), WRITE_BATCH_ROWS):
        chunk = books[start : start + WRITE_BATCH_ROWS]
        connection.execute(delete(book_works).where(book_works.c.book_id.in_(chunk)))
    records = [
        dict(zip(EVIDENCE_COLUMNS, values, strict=True))
        for values in rows[list(EVIDENCE_COLUMNS)].itertuples(index=False)
    ]
    for start in range(0, len(records), WRITE_BATCH_ROWS):
        connection.execute(insert(book_works), records[start : start + WRITE_BATCH_ROWS])


def regroup(connection: Connection) -> int:
    """Derive every catalog record's work from the stored evidence; returns how many records
    changed work. Records stored before works were derived get their evidence from their
    stored title, author and ISBN first."""
    missing = connection.execute(
        select(catalog.c.book_id, catalog.c.title, catalog.c.author, catalog.c.isbn)
        .select_from(catalog.outerjoin(book_works, catalog.c.book_id == book_works.c.book_id))
        .where(book_works.c.book_id.is_(None))
    ).all()
    if missing:
        frame = pd.DataFrame(missing, columns=[C.BOOK_ID, C.TITLE, C.AUTHOR, C.ISBN])
        write_evidence(connection, evidence=record_evidence(frame))
    stored = _read(connection, select(book_works), [c.name for c in book_works.columns])
    if stored.empty:
        return 0
    derived = works.group_records(stored).work_key
    before = stored.set_index(C.BOOK_ID)[C.WORK_KEY].reindex(derived.index)
    changed = derived[before.ne(derived) | before.isna()]
    statement = (
        update(book_works)
        .where(book_works.c.book_id == bindparam("book"))
        .values(work_key=bindparam("key"))
    )
    rows = [{"book": book, "key": key} for book, key in changed.items()]
    for start in range(0, len(rows), WRITE_BATCH_ROWS):
        connection.execute(statement, rows[start : start + WRITE_BATCH_ROWS])
    return len(rows)


def ungrouped_records(engine: Engine) -> int:
    """Catalog records without a derived work (stored before this store derived works)."""
    query = (
        select(func.count())
        .select_from(catalog.outerjoin(book_works, catalog.c.book_id == book_works.c.book_id))
        .where(book_works.c.work_key.is_(None))
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def load_sources(engine: Engine) -> pd.DataFrame:
    """Per catalog record, by book id: title, author, the catalog's ``work_id``, the derived
    ``work_key`` and a librarian's override (``override_work``, ``override_action``,
    ``created_at``, ``note``)."""
    with engine.connect() as connection:
        return _sources(connection)


def _sources(connection: Connection) -> pd.DataFrame:
    columns = {
        C.BOOK_ID: catalog.c.book_id,
        C.TITLE: catalog.c.title,
        C.AUTHOR: catalog.c.author,
        C.WORK_ID: catalog.c.work_id,
        C.WORK_KEY: book_works.c.work_key,
        works.OVERRIDE_WORK: work_overrides.c.work_id,
        works.OVERRIDE_ACTION: work_overrides.c.action,
        CREATED_AT: work_overrides.c.created_at,
        NOTE: work_overrides.c.note,
    }
    query = (
        select(*(column.label(name) for name, column in columns.items()))
        .select_from(
            catalog.outerjoin(book_works, catalog.c.book_id == book_works.c.book_id).outerjoin(
                work_overrides, catalog.c.book_id == work_overrides.c.book_id
            )
        )
        .order_by(catalog.c.book_id)
    )
    return _read(connection, query, list(columns))


def load_evidence(engine: Engine) -> pd.DataFrame:
    """The stored evidence of every record (`recsys.data.EVIDENCE_COLUMNS`)."""
    with engine.connect() as connection:
        return _read(
            connection,
            select(*(book_works.c[name] for name in EVIDENCE_COLUMNS)),
            list(EVIDENCE_COLUMNS),
        )


def load_report(engine: Engine) -> WorksReport:
    """The grouping report of the stored catalog (`recsys.data.works_report`)."""
    return works_report(load_sources(engine), load_evidence(engine))


def effective_works(engine: Engine) -> pd.DataFrame:
    """``[book_id, work_id, source]``: each record's work (`recsys.data.works.resolve_works`)."""
    return works.resolve_works(load_sources(engine))


def record_series(engine: Engine) -> pd.Series:
    """Each record's numbered series from its stored evidence, by ``book_id``, in the catalog's
    ``series`` form (`recsys.data.work_evidence.series_statements`); records without are absent."""
    query = select(book_works.c.book_id, book_works.c.series_key).where(
        book_works.c.series_key.is_not(None)
    )
    with engine.connect() as connection:
        frame = _read(connection, query, [C.BOOK_ID, C.SERIES_KEY])
    return pd.Series(
        [series_statements(s) for s in frame[C.SERIES_KEY].tolist()],
        index=frame[C.BOOK_ID].tolist(),
        dtype=object,
    )


def work_of(engine: Engine, *, book_id: str) -> pd.DataFrame:
    """Every record of `book_id`'s work: ``[book_id, title, author, work_id, source]``."""
    sources = load_sources(engine)
    resolved = works.resolve_works(sources)
    frame = sources[[C.BOOK_ID, C.TITLE, C.AUTHOR]].assign(
        **{C.WORK_ID: resolved[C.WORK_ID], works.SOURCE: resolved[works.SOURCE]}
    )
    own = frame.loc[frame[C.BOOK_ID] == book_id]
    if own.empty:
        raise UnknownBookError(f"book_id must be a record of the stored catalog; got {book_id!r}")
    work = own[C.WORK_ID].iloc[0]
    return own if pd.isna(work) else frame.loc[frame[C.WORK_ID] == work]


def load_overrides(engine: Engine) -> pd.DataFrame:
    """The librarians' overrides, newest first, with when (UTC, ISO 8601) and the record's
    title as readers see it."""
    sources = load_sources(engine)
    frame = sources.loc[sources[works.OVERRIDE_WORK].notna()]
    frame = frame.sort_values(
        [CREATED_AT, works.OVERRIDE_WORK, C.BOOK_ID], ascending=[False, True, True]
    )
    when = pd.to_datetime(frame[CREATED_AT].astype("int64"), unit="s", utc=True)
    return readable(frame).assign(**{CREATED_AT: when.dt.strftime("%Y-%m-%dT%H:%M:%SZ")})[
        [CREATED_AT, works.OVERRIDE_ACTION, works.OVERRIDE_WORK, C.BOOK_ID, C.TITLE, NOTE]
    ]


def merge_works(engine: Engine, *, book_ids: Sequence[str], note: str | None = None) -> str:
    """Make the works of `book_ids` one work, named after the first one's; returns its id.

    Every record of those works is pinned to it, so later catalog updates keep them together,
    and editions derived into any of them later join it.
    """
    wanted = _distinct(book_ids)
    if len(wanted) < 2:
        raise RecsysError(f"book_ids must name at least two records to merge; got {wanted}")
    with engine.begin() as connection:
        current = _current_works(connection, wanted)
        target = str(current.loc[wanted[0]])
        members = current.index[current.isin(set(current.loc[wanted]))].tolist()
        _pin(connection, members, target, works.MERGE, note)
    return target


def split_works(engine: Engine, *, book_ids: Sequence[str], note: str | None = None) -> str:
    """Take `book_ids` out of their works into one work of their own; returns its id."""
    wanted = _distinct(book_ids)
    if not wanted:
        raise RecsysError("book_ids must name at least one record to split off")
    with engine.begin() as connection:
        _current_works(connection, wanted)  # refuses unknown records
        target = "s" + hashlib.sha1("\n".join(sorted(wanted)).encode()).hexdigest()[:16]
        _pin(connection, wanted, target, works.SPLIT, note)
    return target


def remove_overrides(engine: Engine, *, book_ids: Sequence[str]) -> int:
    """Forget the librarians' overrides of `book_ids`; returns how many there were."""
    wanted = _distinct(book_ids)
    with engine.begin() as connection:
        result = connection.execute(
            delete(work_overrides).where(work_overrides.c.book_id.in_(wanted))
        )
    return int(result.rowcount)


def _distinct(book_ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(b.strip() for b in book_ids if b.strip()))


def _current_works(connection: Connection, wanted: list[str]) -> pd.Series:
    """Every record's effective work (index book id; a record in no work stands for itself),
    refusing unknown `wanted` records."""
    resolved = works.resolve_works(_sources(connection))
    unknown = [b for b in wanted if b not in set(resolved[C.BOOK_ID])]
    if unknown:
        raise UnknownBookError(
            f"book_ids must be records of the stored catalog; unknown: {', '.join(unknown[:5])}"
        )
    work = resolved[C.WORK_ID].where(resolved[C.WORK_ID].notna(), resolved[C.BOOK_ID])
    return pd.Series(work.to_numpy(), index=resolved[C.BOOK_ID].to_numpy())


def _pin(
    connection: Connection, book_ids: list[str], work_id: str, action: str, note: str | None
) -> None:
    connection.execute(delete(work_overrides).where(work_overrides.c.book_id.in_(book_ids)))
    now = int(time.time())
    connection.execute(
        insert(work_overrides),
        [
            {"book_id": b, "work_id": work_id, "action": action, "created_at": now, "note": note}
            for b in book_ids
        ],
    )


def _read(connection: Connection, query: Select[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(connection.execute(query).all(), columns=columns)
