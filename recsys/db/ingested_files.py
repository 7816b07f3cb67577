"""The ingest's writes: one file's rows, its quarantined rows and its `ingested_files` record.

Every function takes the connection of the file's transaction, so a failed load rolls back
all of them. Rows go through the raw DBAPI cursor in big batches (`INSERT_BATCH_ROWS`): at
millions of rows SQLAlchemy's per-row statement building would dominate the load.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, literal, select, update

from recsys.data.schemas import InputSchema
from recsys.data.validation import QUARANTINE_COLUMNS
from recsys.db import tables

INSERT_BATCH_ROWS = 50_000

#: The table each kind of export is stored in.
TABLE_OF_KIND = {
    "loans": tables.loans,
    "views": tables.views,
    "catalog": tables.catalog,
    "holdings": tables.holdings,
    "items": tables.items,
    "consent": tables.consent,
    "feedback": tables.reader_feedback,
}


def already_ingested(engine: Engine, *, kind: str, sha256: str) -> bool:
    """Whether a file of this kind with this content (SHA-256) was ingested before."""
    files = tables.ingested_files
    query = select(files.c.file_id).where(files.c.kind == kind, files.c.sha256 == sha256)
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


def record_file(connection: Connection, *, kind: str, file_name: str, sha256: str) -> int:
    """Record a file being ingested (counts filled in by `record_counts`); returns its id."""
    result = connection.execute(
        insert(tables.ingested_files).values(
            kind=kind,
            file_name=file_name[:512],
            sha256=sha256,
            rows_read=0,
            rows_accepted=0,
            rows_quarantined=0,
            ingested_at=int(time.time()),
        )
    )
    primary_key = result.inserted_primary_key
    if primary_key is None:
        raise RuntimeError("the database did not return the new ingested_files id")
    return int(primary_key[0])


def record_counts(
    connection: Connection,
    *,
    file_id: int,
    rows_read: int,
    rows_accepted: int,
    rows_quarantined: int,
) -> None:
    connection.execute(
        update(tables.ingested_files)
        .where(tables.ingested_files.c.file_id == file_id)
        .values(rows_read=rows_read, rows_accepted=rows_accepted, rows_quarantined=rows_quarantined)
    )


def tune_for_bulk_load(connection: Connection) -> None:
    """A bigger SQLite page cache so index updates of bulk inserts stay in memory."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA cache_size=-262144")  # KiB: 256 MiB, used as needed


@contextmanager
def deferred_indexes(connection: Connection, *, kind: str) -> Iterator[None]:
    """Into an empty table, build the secondary indexes once after the load, not row by row.

    The DDL runs inside the file's transaction, so a failed load restores them with the rollback.
    """
    table = TABLE_OF_KIND[kind]
    empty = connection.execute(select(literal(1)).select_from(table).limit(1)).first() is None
    indexes = sorted(table.indexes, key=lambda index: str(index.name)) if empty else []
    for index in indexes:
        index.drop(connection)
    yield
    for index in indexes:
        index.create(connection)


def insert_rows(
    connection: Connection, schema: InputSchema, frame: pd.DataFrame, *, file_id: int
) -> int:
    """Insert (or, for an upserting kind, update) the rows; returns rows inserted or updated."""
    columns = [*schema.stored, "file_id"]
    values = [_python_values(frame[name]) for name in schema.stored]
    values.append([file_id] * len(frame))
    sql = _insert_sql(connection.dialect.name, schema, columns)
    return _executemany(connection, sql, list(zip(*values, strict=True)))


def write_quarantine(
    connection: Connection, *, kind: str, frame: pd.DataFrame, file_id: int
) -> None:
    """Store the quarantined rows' line numbers, reasons and redacted details."""
    if frame.empty:
        return
    sql = (
        f"INSERT INTO {tables.quarantine.name} (file_id, kind, line_number, reason, detail) "
        f"VALUES ({_placeholders(connection.dialect.name, 5)})"
    )
    rows = [
        (file_id, kind, int(line), reason, detail)
        for line, reason, detail in frame[list(QUARANTINE_COLUMNS)].itertuples(index=False)
    ]
    _executemany(connection, sql, rows)


def _executemany(connection: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run `sql` for all rows in big batches on the raw DBAPI cursor (inside the transaction)."""
    cursor = connection.connection.cursor()
    changed = 0
    try:
        for start in range(0, len(rows), INSERT_BATCH_ROWS):
            cursor.executemany(sql, rows[start : start + INSERT_BATCH_ROWS])
            changed += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return changed


def _insert_sql(dialect: str, schema: InputSchema, columns: list[str]) -> str:
    table = TABLE_OF_KIND[schema.kind].name
    head = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({_placeholders(dialect, len(columns))}) ON CONFLICT"
    )
    if not schema.upsert:
        return f"{head} DO NOTHING"
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in schema.key)
    return f"{head} ({', '.join(schema.key)}) DO UPDATE SET {updates}"


def _placeholders(dialect: str, count: int) -> str:
    return ", ".join(["?" if dialect == "sqlite" else "%s"] * count)


def _python_values(values: pd.Series) -> list[Any]:
    """Column values as Python objects with None for NULL (what every DBAPI driver accepts)."""
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.astype("int64").tolist()
    return values.astype(object).where(values.notna(), None).tolist()
