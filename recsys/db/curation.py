"""Storage of the librarians' rules and reading lists (keyword-only functions, bound parameters).

Nothing is deleted: a removed rule or list keeps its row with who removed it, when and why, so
the tables are the audit trail. Every change bumps `curation_state.version` in its own
transaction; services compare that number to know when to read the rules again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from recsys.db.tables import curation_rules, curation_state, reading_list_books, reading_lists


def curation_version(engine: Engine) -> int:
    """The store's curation version (0 before the first change)."""
    with engine.connect() as connection:
        found = connection.execute(select(curation_state.c.version)).scalar()
    return int(found or 0)


def _bump(connection: Connection) -> None:
    connection.execute(update(curation_state).values(version=curation_state.c.version + 1))


def insert_rules(engine: Engine, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Store rules (columns of `curation_rules` but `rule_id`) in one transaction; their ids."""
    ids = []
    with engine.begin() as connection:
        for row in rows:
            result = connection.execute(insert(curation_rules).values(**row))
            ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        _bump(connection)
    return ids


def mark_rule_removed(engine: Engine, *, rule_id: int, at: int, by: str, reason: str) -> bool:
    """Mark a rule removed; False when no such rule is in force."""
    with engine.begin() as connection:
        result = connection.execute(
            update(curation_rules)
            .where(curation_rules.c.rule_id == rule_id, curation_rules.c.removed_at.is_(None))
            .values(removed_at=at, removed_by=by, removal_reason=reason)
        )
        if result.rowcount:
            _bump(connection)
    return bool(result.rowcount)


def rule_rows(engine: Engine, *, include_removed: bool = False) -> list[dict[str, Any]]:
    """Every rule not removed (or every rule ever made), oldest first, as column dicts."""
    query = select(curation_rules).order_by(curation_rules.c.rule_id)
    if not include_removed:
        query = query.where(curation_rules.c.removed_at.is_(None))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def save_reading_list(
    engine: Engine, *, row: dict[str, Any], books: Sequence[tuple[str, str | None]]
) -> None:
    """Create or replace a reading list (`row`: columns of `reading_lists`) and its books."""
    list_id = row["list_id"]
    with engine.begin() as connection:
        exists = connection.execute(
            select(reading_lists.c.created_at).where(reading_lists.c.list_id == list_id)
        ).first()
        if exists is None:
            connection.execute(insert(reading_lists).values(**row))
        else:
            kept = {k: v for k, v in row.items() if k not in ("created_by", "created_at")}
            connection.execute(
                update(reading_lists)
                .where(reading_lists.c.list_id == list_id)
                .values(**kept, removed_at=None)
            )
        connection.execute(
            reading_list_books.delete().where(reading_list_books.c.list_id == list_id)
        )
        if books:
            connection.execute(
                insert(reading_list_books),
                [
                    {"list_id": list_id, "position": n, "book_id": book, "note": note}
                    for n, (book, note) in enumerate(books, start=1)
                ],
            )
        _bump(connection)


def mark_reading_list_removed(engine: Engine, *, list_id: str, at: int) -> bool:
    """Withdraw a reading list; False when no such list is published."""
    with engine.begin() as connection:
        result = connection.execute(
            update(reading_lists)
            .where(reading_lists.c.list_id == list_id, reading_lists.c.removed_at.is_(None))
            .values(removed_at=at)
        )
        if result.rowcount:
            _bump(connection)
    return bool(result.rowcount)


def reading_list_rows(engine: Engine) -> list[tuple[dict[str, Any], list[tuple[str, str | None]]]]:
    """Every published reading list with its books in order."""
    with engine.connect() as connection:
        lists = [
            dict(row._mapping)
            for row in connection.execute(
                select(reading_lists)
                .where(reading_lists.c.removed_at.is_(None))
                .order_by(reading_lists.c.list_id)
            )
        ]
        books: dict[str, list[tuple[str, str | None]]] = {}
        for list_id, book_id, note in connection.execute(
            select(
                reading_list_books.c.list_id,
                reading_list_books.c.book_id,
                reading_list_books.c.note,
            ).order_by(reading_list_books.c.list_id, reading_list_books.c.position)
        ):
            books.setdefault(list_id, []).append((book_id, note))
    return [(row, books.get(row["list_id"], [])) for row in lists]
