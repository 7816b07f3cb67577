"""The stored rows that may train models, as SQL statements the Spark engine reads directly.

The same rows as `recsys.consent.load_training_dataset` (loans, renewals, holds, views of
logged-in readers, and readers' feedback as events named by its kind; ids no longer than the
store allows), with the readers' choices and the
consent rule written into the statement, so that nothing a reader withheld leaves the database:
a (reader, book) the reader excluded from what feeds their suggestions is left out, and a reader
contributes under their consent mode (`recsys.consent.ConsentRule`: the minors' mode for a
category marked as minors, the general mode otherwise): in ``opt-out`` mode unless recorded with
``consented = false``, in ``opt-in`` mode only when recorded with ``consented = true``; minors
not at all with ``RECSYS_SEPARATE_MINORS``. The Spark engine weighs the feedback as the implicit
engine does (`recsys.engines.spark.training`). Times are Unix seconds. Each statement also
selects its table's integer key as ``row_id``, by which Spark's JDBC reader splits the reading
(feedback has none: its rows, one per reader, book and kind, are read in one piece).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import ConsentMode, ConsentRule
from recsys.db.queries import _ids_fit
from recsys.db.tables import (
    consent,
    loans,
    reader_categories,
    reader_exclusions,
    reader_feedback,
    views,
)

ROW_ID = "row_id"
SECONDS = "seconds"
#: The columns every statement selects, in order.
COLUMNS = (ROW_ID, C.READER_ID, C.BOOK_ID, C.EVENT, SECONDS, C.LIBRARY_ID)


def training_statements(settings: Settings) -> dict[str, Select[Any]]:
    """``{"loans": ..., "views": ..., "feedback": ...}``: the rows of each table that may train
    models."""
    rule = ConsentRule.of(settings)
    separate = settings.separate_minors
    return {
        "loans": select(
            loans.c.loan_id.label(ROW_ID),
            loans.c.reader_id,
            loans.c.book_id,
            loans.c.event,
            loans.c.borrowed_at.label(SECONDS),
            loans.c.library_id,
        ).where(*_ids_fit(loans), *_chosen(loans, rule, separate_minors=separate)),
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
            *_chosen(views, rule, separate_minors=separate),
        ),
        "feedback": select(
            literal(0).label(ROW_ID),
            reader_feedback.c.reader_id,
            reader_feedback.c.book_id,
            reader_feedback.c.kind.label(C.EVENT),
            reader_feedback.c.given_at.label(SECONDS),
            literal(None).label(C.LIBRARY_ID),
        ).where(
            *_ids_fit(reader_feedback),
            *_chosen(reader_feedback, rule, separate_minors=separate),
        ),
    }


def _chosen(table: Table, rule: ConsentRule, *, separate_minors: bool) -> list[ColumnElement[bool]]:
    """The rows' reader may contribute and did not exclude the row's book."""
    excluded = exists().where(
        reader_exclusions.c.reader_id == table.c.reader_id,
        reader_exclusions.c.book_id == table.c.book_id,
    )
    return [~excluded, _may_contribute(table.c.reader_id, rule, separate_minors=separate_minors)]


def _may_contribute(
    reader: Any, rule: ConsentRule, *, separate_minors: bool
) -> ColumnElement[bool]:
    """`recsys.consent.ConsentRule.allows` as a condition on a table's reader column."""
    if not rule.minors:
        return _answer_allows(reader, rule.mode)
    minors = select(reader_categories.c.reader_id).where(
        reader_categories.c.category.in_(sorted(rule.minors))
    )
    adults = and_(reader.not_in(minors), _answer_allows(reader, rule.mode))
    if separate_minors:
        return adults
    return or_(adults, and_(reader.in_(minors), _answer_allows(reader, rule.minors_mode)))


def _answer_allows(reader: Any, mode: ConsentMode) -> ColumnElement[bool]:
    """`recsys.consent.allowed` in SQL: opt-in needs a recorded yes, opt-out only no recorded no."""
    if mode == "opt-in":
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
