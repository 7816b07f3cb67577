"""One reader's consent and loans in a single database round trip, as plain arrays.

The per-reader route needs both on every request (an objection is honoured from the next request
on), and only loan events: a view is not a borrowing. One UNION ALL statement answers both (the
first row carries the consent answer), and numpy arrays replace the DataFrame that only a
fold-in, a rare case, needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Engine,
    Integer,
    String,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import allowed
from recsys.db.tables import consent, loans


@dataclass(frozen=True)
class LoanHistory:
    """A reader's loan events, oldest first (`seconds`: Unix time)."""

    book_ids: list[str]
    events: list[str]
    seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.book_ids)

    def latest_first(self) -> list[str]:
        """Book ids from the newest loan back (ties: the later row first)."""
        return self.book_ids[::-1]

    def newer_than(self, reference: float | None) -> LoanHistory:
        """The events after `reference` (none when the model has no reference time)."""
        if reference is None or not self.book_ids:
            return LoanHistory([], [], self.seconds[:0])
        keep = np.flatnonzero(self.seconds > reference)
        return LoanHistory(
            [self.book_ids[i] for i in keep], [self.events[i] for i in keep], self.seconds[keep]
        )

    def frame(self, reader: str) -> pd.DataFrame:
        """The events as the models' `history` frame."""
        return pd.DataFrame(
            {
                C.READER_ID: pd.Series([reader] * len(self), dtype=object),
                C.BOOK_ID: pd.Series(self.book_ids, dtype=object),
                C.EVENT: pd.Series(self.events, dtype=object),
                C.TIMESTAMP: pd.to_datetime(self.seconds, unit="s", utc=True),
            }
        )


EMPTY_HISTORY = LoanHistory([], [], np.empty(0, dtype=np.int64))


def _statement() -> CompoundSelect[Any]:
    reader: BindParameter[str] = bindparam("reader", type_=String())
    answer = select(consent.c.consented).where(consent.c.reader_id == reader)
    first = select(
        literal(0, Integer).label("kind"),
        cast(answer.scalar_subquery(), Integer).label("consented"),
        cast(null(), String).label("book_id"),
        cast(null(), String).label("event"),
        literal(0, Integer).label("at"),
    )
    rows = select(
        literal(1, Integer),
        cast(null(), Integer),
        loans.c.book_id,
        loans.c.event,
        loans.c.borrowed_at,
    ).where(
        loans.c.reader_id == reader,
        loans.c.event.in_([literal(e, String) for e in Events.LOAN_EVENTS]),
    )
    return union_all(first, rows)


#: Built once: SQLAlchemy then reuses its compiled form on every request.
CONSENT_AND_LOANS = _statement()


def consent_and_loans(engine: Engine, settings: Settings, *, reader_id: str) -> LoanHistory | None:
    """The reader's (a pseudonym) loans, or None when they may not get personal suggestions."""
    with engine.connect() as connection:
        rows = connection.execute(CONSENT_AND_LOANS, {"reader": reader_id}).all()
    head = next(r for r in rows if r[0] == 0)
    answer = None if head[1] is None else bool(head[1])
    if not allowed(answer, settings.consent_mode):
        return None
    events = sorted((int(r[4]), str(r[2]), str(r[3])) for r in rows if r[0] == 1)
    if not events:
        return EMPTY_HISTORY
    seconds, books, kinds = zip(*events, strict=True)
    return LoanHistory(list(books), list(kinds), np.asarray(seconds, dtype=np.int64))
