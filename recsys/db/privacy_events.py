"""Storage of privacy events (erasures, key rotations): counts and times, never a reader id.
Keyword-only functions, bound parameters."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, insert, select

from recsys.db.tables import privacy_events


def record_event(connection: Connection, *, kind: str, count: int, at: int) -> int:
    """Add a ``(kind, count, at)`` row inside the caller's transaction; its id."""
    inserted = connection.execute(
        insert(privacy_events).values(kind=kind, count=count, at=at)
    ).inserted_primary_key
    if inserted is None:
        raise RuntimeError("the database did not return the new privacy_events id")
    return int(inserted[0])


def latest_event_id(connection: Connection, *, kind: str) -> int:
    """The id of the newest event of `kind` (0: none), inside the caller's transaction."""
    query = select(func.coalesce(func.max(privacy_events.c.event_id), 0)).where(
        privacy_events.c.kind == kind
    )
    return int(connection.execute(query).scalar_one())


def event_total(engine: Engine, *, kind: str) -> int:
    """The sum of the counts of every event of `kind`."""
    query = select(func.coalesce(func.sum(privacy_events.c.count), 0)).where(
        privacy_events.c.kind == kind
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())
