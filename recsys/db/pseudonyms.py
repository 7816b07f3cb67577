"""Every stored pseudonym at once, for a key rotation (`recsys.key_rotation`): the distinct
``reader_id`` values of every table that has the column, and their replacement. Keyword-only
functions, bound parameters."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, bindparam, select, update

from recsys.db.tables import metadata


def reader_tables() -> list[Table]:
    """The tables with a ``reader_id`` column."""
    return [table for table in metadata.sorted_tables if "reader_id" in table.c]


def stored_pseudonyms(connection: Connection) -> set[str]:
    """Every distinct pseudonym stored in any table."""
    stored: set[str] = set()
    for table in reader_tables():
        query = select(table.c.reader_id).where(table.c.reader_id.is_not(None)).distinct()
        stored.update(connection.execute(query).scalars())
    return stored


def replace_pseudonyms(connection: Connection, *, mapping: Sequence[tuple[str, str]]) -> int:
    """Replace each (old, new) pseudonym in every table inside the caller's transaction; how
    many rows changed."""
    if not mapping:
        return 0
    params = [{"old_id": old, "new_id": new} for old, new in mapping]
    rows = 0
    for table in reader_tables():
        statement = (
            update(table)
            .where(table.c.reader_id == bindparam("old_id"))
            .values(reader_id=bindparam("new_id"))
        )
        rows += int(connection.execute(statement, params).rowcount or 0)
    return rows
