"""A reader's loans as the list pipeline reads them, and the rule that reads them from rows.

The per-reader list needs the reader's consent answer and loans on every request (an objection
is honoured from the next request on); `recsys.db.reader_state` fetches both in one round trip
and `history_from_rows` turns its rows into a `LoanHistory`, or None when the reader may not get
personal suggestions. Only loan events count: a view is not a borrowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.consent import ConsentMode, allowed


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
        if reference is None or not self.book_ids or self.seconds[-1] <= reference:
            return LoanHistory([], [], self.seconds[:0])  # oldest first: the last is the newest
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


def history_from_rows(rows: Sequence[Sequence[Any]], mode: ConsentMode) -> LoanHistory | None:
    """A reader's loans from `recsys.db.reader_state`'s rows (kind, consented, book_id, event,
    at), or None when the consent rule says they may not get personal suggestions."""
    head = next(r for r in rows if r[0] == 0)
    answer = None if head[1] is None else bool(head[1])
    if not allowed(answer, mode):
        return None
    events = sorted((r for r in rows if r[0] == 1), key=_EVENT_ORDER)
    if not events:
        return EMPTY_HISTORY
    _, _, books, kinds, seconds = zip(*events, strict=True)
    return LoanHistory(list(books), list(kinds), np.asarray(seconds, dtype=np.int64))


_EVENT_ORDER = itemgetter(4, 2, 3)  # time, then book and event for a stable order
