"""The stored items export: which record each copy belongs to (``recsys ingest items``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, func, select

from recsys.db.tables import items

#: Below the bound-parameter limit of SQLite (32,766 since 3.32) and of PostgreSQL (65,535).
LOOKUP_BATCH = 30_000


def stored_item_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(items)).scalar_one())


def records_of_copies(engine: Engine, copy_ids: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(copy id, record) of each stored copy among `copy_ids`, looked up a batch at a time."""
    with engine.connect() as connection:
        for start in range(0, len(copy_ids), LOOKUP_BATCH):
            batch = copy_ids[start : start + LOOKUP_BATCH]
            query = select(items.c.copy_id, items.c.book_id).where(items.c.copy_id.in_(batch))
            yield from ((copy, book) for copy, book in connection.execute(query))
