"""Storage of reader categories (child, young adult, adult), which decide who is a minor
(`recsys.consent.ConsentRule`). Keyword-only functions, bound parameters; pseudonyms only."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select

from recsys.columns import Columns as C
from recsys.db.tables import reader_categories

CHUNK = 500


def record_categories(connection: Connection, rows: Sequence[tuple[str, str, int]]) -> int:
    """Store (reader pseudonym, category, Unix time) rows inside the caller's transaction: per
    reader the latest row wins over the others and over an older stored one. Returns how many
    readers' categories changed."""
    latest: dict[str, tuple[str, int]] = {}
    for reader, category, at in sorted(rows, key=lambda row: row[2]):
        latest[reader] = (category, int(at))
    stored: dict[str, tuple[str, int]] = {}
    query = select(
        reader_categories.c.reader_id, reader_categories.c.category, reader_categories.c.updated_at
    ).where(reader_categories.c.reader_id.in_(bindparam("ids", expanding=True)))
    readers = list(latest)
    for start in range(0, len(readers), CHUNK):
        found = connection.execute(query, {"ids": readers[start : start + CHUNK]})
        stored.update((r, (c, int(t))) for r, c, t in found)
    changed = [
        (reader, category, at)
        for reader, (category, at) in latest.items()
        if reader not in stored or (at >= stored[reader][1] and category != stored[reader][0])
    ]
    if changed:
        connection.execute(
            delete(reader_categories).where(reader_categories.c.reader_id == bindparam("rid")),
            [{"rid": reader} for reader, _, _ in changed],
        )
        connection.execute(
            insert(reader_categories),
            [{"reader_id": r, "category": c, "updated_at": t} for r, c, t in changed],
        )
    return len(changed)


def load_categories(engine: Engine) -> pd.DataFrame:
    """Every recorded reader category as `[reader_id, reader_category]` (pseudonyms)."""
    query = select(reader_categories.c.reader_id, reader_categories.c.category)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=[C.READER_ID, C.READER_CATEGORY], dtype=object)
