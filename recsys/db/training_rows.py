"""The stored rows that may train models, as SQL statements the Spark engine reads directly.

The same rows as `recsys.consent.load_training_dataset` (loans, renewals, holds, and views of
logged-in readers; ids no longer than the store allows), with the consent rule written into the
statement, so that a reader who may not contribute never leaves the database: in ``opt-out``
mode every reader but those recorded with ``consented = false``, in ``opt-in`` mode only those
recorded with ``consented = true``. Times are Unix seconds. Each statement also selects its
table's integer key as ``row_id``, by which Spark's JDBC reader splits the reading.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, false, func, literal, select, true

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.db.queries import _ids_fit
from recsys.db.tables import consent, loans, views

ROW_ID = "row_id"
SECONDS = "seconds"
#: The columns every statement selects, in order.
COLUMNS = (ROW_ID, C.READER_ID, C.BOOK_ID, C.EVENT, SECONDS, C.LIBRARY_ID)


def training_statements(consent_mode: str) -> dict[str, Select[Any]]:
    """``{"loans": ..., "views": ...}``: the rows of each table that may train models."""
    return {
        "loans": select(
            loans.c.loan_id.label(ROW_ID),
            loans.c.reader_id,
            loans.c.book_id,
            loans.c.event,
            loans.c.borrowed_at.label(SECONDS),
            loans.c.library_id,
        ).where(*_ids_fit(loans), _may_contribute(loans.c.reader_id, consent_mode)),
        "views": select(
            views.c.view_id.label(ROW_ID),
            views.c.reader_id,
            views.c.book_id,
            literal(Events.VIEW).label(C.EVENT),
            views.c.viewed_at.label(SECONDS),
            literal(None).label(C.LIBRARY_ID),
        ).where(
            views.c.reader_id.is_not(None),
            *_ids_fit(views),
            _may_contribute(views.c.reader_id, consent_mode),
        ),
    }


def _may_contribute(reader: Any, consent_mode: str) -> ColumnElement[bool]:
    """`recsys.consent.allowed` as a condition on a table's reader column."""
    if consent_mode == "opt-in":
        agreed = select(consent.c.reader_id).where(consent.c.consented.is_(true()))
        return reader.in_(agreed)
    refused = select(consent.c.reader_id).where(consent.c.consented.is_(false()))
    return reader.not_in(refused)


def row_id_bounds(engine: Engine, statement: Select[Any]) -> tuple[int, int] | None:
    """The smallest and largest ``row_id`` of `statement`'s rows (None: no rows)."""
    rows = statement.subquery()
    query = select(func.min(rows.c[ROW_ID]), func.max(rows.c[ROW_ID]))
    with engine.connect() as connection:
        low, high = connection.execute(query).one()
    return None if low is None else (int(low), int(high))
