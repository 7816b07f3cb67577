"""Everything the store holds about one reader (a pseudonym), read in one transaction, for the
reader's profile and data export (`recsys.reader_data`). Keyword-only, bound parameters only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, select

from recsys.columns import Columns as C
from recsys.db.tables import (
    catalog,
    consent,
    loans,
    reader_categories,
    reader_exclusions,
    reader_feedback,
    views,
)
from recsys.display import clean_author, clean_title

LOAN_COLUMNS = (C.BOOK_ID, C.EVENT, C.BORROWED_AT, C.LIBRARY_ID, C.COPY_ID)
VIEW_COLUMNS = (C.SESSION_ID, C.BOOK_ID, C.VIEWED_AT)
FEEDBACK_COLUMNS = (C.BOOK_ID, C.FEEDBACK_KIND, C.GIVEN_AT)
EXCLUSION_COLUMNS = (C.BOOK_ID, C.EXCLUDED_AT)


@dataclass(frozen=True)
class ReaderRecords:
    """One reader's rows: consent answer and category (None: none recorded, with their times),
    and their loan events, views, feedback and exclusions, oldest first (times: Unix seconds)."""

    consented: bool | None
    answered_at: int | None
    category: str | None
    category_at: int | None
    loans: pd.DataFrame
    views: pd.DataFrame
    feedback: pd.DataFrame
    exclusions: pd.DataFrame

    @property
    def book_ids(self) -> list[str]:
        """Every book the rows name, once."""
        frames = (self.loans, self.views, self.feedback, self.exclusions)
        return list(dict.fromkeys(b for f in frames for b in f[C.BOOK_ID].astype(str)))


def reader_records(engine: Engine, *, reader_id: str) -> ReaderRecords:
    """Every row the store holds under the pseudonym `reader_id`."""
    with engine.connect() as connection, connection.begin():
        answer = connection.execute(
            select(consent.c.consented, consent.c.updated_at).where(
                consent.c.reader_id == reader_id
            )
        ).first()
        category = connection.execute(
            select(reader_categories.c.category, reader_categories.c.updated_at).where(
                reader_categories.c.reader_id == reader_id
            )
        ).first()
        return ReaderRecords(
            consented=None if answer is None else bool(answer[0]),
            answered_at=None if answer is None else int(answer[1]),
            category=None if category is None else str(category[0]),
            category_at=None if category is None else int(category[1]),
            loans=_rows(connection, loans, LOAN_COLUMNS, reader_id, C.BORROWED_AT),
            views=_rows(connection, views, VIEW_COLUMNS, reader_id, C.VIEWED_AT),
            feedback=_rows(connection, reader_feedback, FEEDBACK_COLUMNS, reader_id, C.GIVEN_AT),
            exclusions=_rows(
                connection, reader_exclusions, EXCLUSION_COLUMNS, reader_id, C.EXCLUDED_AT
            ),
        )


def catalog_texts(engine: Engine, book_ids: Iterable[str]) -> dict[str, tuple[str | None, ...]]:
    """Clean (title, author) of each of `book_ids` the catalog holds."""
    wanted = list(dict.fromkeys(book_ids))
    query = select(catalog.c.book_id, catalog.c.title, catalog.c.author).where(
        catalog.c.book_id.in_(bindparam("ids", expanding=True))
    )
    found: dict[str, tuple[str | None, ...]] = {}
    with engine.connect() as connection:
        for start in range(0, len(wanted), 500):
            for book, title, author in connection.execute(
                query, {"ids": wanted[start : start + 500]}
            ):
                found[str(book)] = (clean_title(title), clean_author(author))
    return found


def _rows(
    connection: Connection, table: Any, columns: tuple[str, ...], reader_id: str, order: str
) -> pd.DataFrame:
    query = (
        select(*(table.c[name] for name in columns))
        .where(table.c.reader_id == reader_id)
        .order_by(table.c[order], table.c.book_id)
    )
    return pd.DataFrame(connection.execute(query).all(), columns=list(columns), dtype=object)
