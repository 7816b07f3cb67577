"""Storage of readers' feedback on books and of the books they exclude from what feeds their
suggestions (keyword-only functions, bound parameters only; `reader_id` values are pseudonyms).

The rules (which feedback replaces which, what feeds a list) are `recsys.curation.feedback`'s;
this module reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select

from recsys.columns import Columns as C
from recsys.db.tables import reader_exclusions, reader_feedback

FEEDBACK_COLUMNS = (C.READER_ID, C.BOOK_ID, C.FEEDBACK_KIND, C.GIVEN_AT)
EXCLUSION_COLUMNS = (C.READER_ID, C.BOOK_ID, C.EXCLUDED_AT)
#: Feedback key: (reader pseudonym, book id, kind).
Key = tuple[str, str, str]
CHUNK = 500


def stored_feedback(connection: Connection, reader_ids: Iterable[str]) -> dict[Key, int]:
    """The stored feedback of these readers: the time each (reader, book, kind) was given."""
    wanted = list(dict.fromkeys(reader_ids))
    query = select(
        reader_feedback.c.reader_id,
        reader_feedback.c.book_id,
        reader_feedback.c.kind,
        reader_feedback.c.given_at,
    ).where(reader_feedback.c.reader_id.in_(bindparam("ids", expanding=True)))
    found: dict[Key, int] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = connection.execute(query, {"ids": wanted[start : start + CHUNK]})
        found.update(((r, b, k), int(t)) for r, b, k, t in rows)
    return found


def write_feedback(
    connection: Connection,
    *,
    given: Sequence[tuple[Key, int]],
    removed: Sequence[Key],
    file_id: int | None = None,
) -> None:
    """Store `given` feedback (key and time; replacing a stored row with the same key) and
    delete the `removed` keys, inside the caller's transaction."""
    keys = [*removed, *(key for key, _ in given)]
    if keys:
        connection.execute(
            delete(reader_feedback).where(
                reader_feedback.c.reader_id == bindparam("rid"),
                reader_feedback.c.book_id == bindparam("bid"),
                reader_feedback.c.kind == bindparam("k"),
            ),
            [{"rid": r, "bid": b, "k": k} for r, b, k in keys],
        )
    if given:
        connection.execute(
            insert(reader_feedback),
            [
                {"reader_id": r, "book_id": b, "kind": k, "given_at": at, "file_id": file_id}
                for (r, b, k), at in given
            ],
        )


def add_exclusion(connection: Connection, *, reader_id: str, book_id: str, at: int) -> bool:
    """Exclude a book from what feeds the reader's suggestions; False when it already was."""
    where = and_(reader_exclusions.c.reader_id == reader_id, reader_exclusions.c.book_id == book_id)
    if connection.execute(select(reader_exclusions.c.book_id).where(where)).first() is not None:
        return False
    connection.execute(
        insert(reader_exclusions).values(reader_id=reader_id, book_id=book_id, excluded_at=at)
    )
    return True


def remove_exclusion(connection: Connection, *, reader_id: str, book_id: str) -> bool:
    """Let a book feed the reader's suggestions again; False when it was not excluded."""
    result = connection.execute(
        delete(reader_exclusions).where(
            reader_exclusions.c.reader_id == reader_id, reader_exclusions.c.book_id == book_id
        )
    )
    return bool(result.rowcount)


def load_feedback(engine: Engine) -> pd.DataFrame:
    """Every stored feedback, `FEEDBACK_COLUMNS` (times in Unix seconds)."""
    return _frame(engine, select(*(reader_feedback.c[n] for n in FEEDBACK_COLUMNS)))


def load_exclusions(engine: Engine) -> pd.DataFrame:
    """Every stored exclusion, `EXCLUSION_COLUMNS` (times in Unix seconds)."""
    return _frame(engine, select(*(reader_exclusions.c[n] for n in EXCLUSION_COLUMNS)))


def feedback_counts(engine: Engine) -> pd.DataFrame:
    """Per feedback kind: how many are stored and from how many readers (no ids)."""
    readers = func.count(func.distinct(reader_feedback.c.reader_id))
    query = (
        select(reader_feedback.c.kind, func.count(), readers)
        .group_by(reader_feedback.c.kind)
        .order_by(reader_feedback.c.kind)
    )
    return _frame(engine, query, (C.FEEDBACK_KIND, "feedback", "readers"))


def books_by_feedback(engine: Engine, *, kind: str, min_readers: int) -> pd.DataFrame:
    """``[book_id, readers]``: books at least `min_readers` readers gave `kind` feedback on,
    most first (fewer readers would point at someone)."""
    readers = func.count(func.distinct(reader_feedback.c.reader_id))
    query = (
        select(reader_feedback.c.book_id, readers)
        .where(reader_feedback.c.kind == kind)
        .group_by(reader_feedback.c.book_id)
        .having(readers >= min_readers)
        .order_by(readers.desc(), reader_feedback.c.book_id)
    )
    return _frame(engine, query, (C.BOOK_ID, "readers"))


def exclusion_counts(engine: Engine) -> tuple[int, int]:
    """How many exclusions are stored, and from how many readers."""
    query = select(func.count(), func.count(func.distinct(reader_exclusions.c.reader_id)))
    with engine.connect() as connection:
        total, readers = connection.execute(query).one()
    return int(total), int(readers)


def _frame(engine: Engine, query: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    names = list(columns if columns is not None else query.selected_columns.keys())
    return pd.DataFrame(rows, columns=names)
