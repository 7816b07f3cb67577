"""What a reader's lists are made from, and the rule that reads it from the store's rows.

The per-reader list needs the reader's consent answer, category, loans, feedback and exclusions
on every request (an objection, a feedback or an exclusion is honoured from the next request on);
`recsys.db.reader_state` fetches them in one round trip and `history_from_rows` turns its rows
into a `LoanHistory`, or None when the reader may not get personal suggestions.

What feeds the lists (`recsys.curation.feedback`): loan events (a view is not a borrowing) and
the books the reader said they read or liked, minus the books they excluded or are not
interested in. Those *withheld* books, like every book that feeds the lists, never appear in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from sys import intern
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.consent import ConsentRule

#: Row kinds of `recsys.db.reader_state`'s statement: (kind, consented, book_id, detail, at).
HEAD, LOAN, FEEDBACK, EXCLUSION = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class LoanHistory:
    """The events that feed a reader's lists, oldest first (`seconds`: Unix time; `events`:
    the loan event or the feedback kind), and the books withheld from them.

    A worker keeps tens of thousands of these (`recsys.service.reader_states`): tuples of
    strings and slots keep them out of most of the garbage collector's rounds, whose full
    rounds otherwise walk every one of them while the worker answers no request."""

    book_ids: Sequence[str]
    events: Sequence[str]
    seconds: np.ndarray
    #: books that neither feed the lists nor appear in them (excluded, not interested), and
    #: the Unix time each was withheld
    withheld: tuple[str, ...] = ()
    withheld_at: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.book_ids)

    def latest_first(self) -> list[str]:
        """Book ids from the newest event back (ties: the later row first)."""
        return list(self.book_ids[::-1])

    def never_shown(self) -> list[str]:
        """Every book the reader's lists leave out (with every record of its work)."""
        return [*self.book_ids, *self.withheld]

    def newer_than(self, reference: float | None) -> LoanHistory:
        """The events after `reference` (none when the model has no reference time)."""
        if reference is None or not self.book_ids or self.seconds[-1] <= reference:
            return LoanHistory((), (), self.seconds[:0], self.withheld, self.withheld_at)
        keep = np.flatnonzero(self.seconds > reference).tolist()
        return LoanHistory(
            tuple(self.book_ids[i] for i in keep),
            tuple(self.events[i] for i in keep),
            self.seconds[keep],
            self.withheld,
            self.withheld_at,
        )

    def withheld_since(self, reference: float | None) -> bool:
        """Whether a book was withheld after `reference` (a model's data end; None: unknown),
        so that the model may still count it in what it learnt of this reader."""
        if reference is None:
            return bool(self.withheld)
        return any(at > reference for at in self.withheld_at)

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


EMPTY_HISTORY = LoanHistory((), (), np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class ReaderRows:
    """A reader's rows from `recsys.db.reader_state`, read: their consent answer (None: none)
    and category, what feeds their lists and what they withheld."""

    consented: bool | None
    category: str | None
    history: LoanHistory


def read_rows(rows: Sequence[Sequence[Any]]) -> ReaderRows:
    """Read `recsys.db.reader_state`'s rows (kind, consented, book_id, detail, at)."""
    head = next(r for r in rows if r[0] == HEAD)
    not_interested = {r[2]: int(r[4]) for r in rows if r[0] == FEEDBACK and r[3] not in _FEEDS}
    excluded = {r[2]: int(r[4]) for r in rows if r[0] == EXCLUSION}
    withheld = {**not_interested, **excluded}
    feeding = sorted(
        (
            r
            for r in rows
            if (r[0] == LOAN or (r[0] == FEEDBACK and r[3] in _FEEDS)) and r[2] not in withheld
        ),
        key=_EVENT_ORDER,
    )
    # interned: the same book ids and event names recur in every kept reader's state
    history = LoanHistory(
        tuple(intern(r[2]) for r in feeding),
        tuple(intern(r[3]) for r in feeding),
        np.asarray([r[4] for r in feeding], dtype=np.int64),
        tuple(withheld),
        tuple(withheld.values()),
    )
    return ReaderRows(None if head[1] is None else bool(head[1]), head[3], history)


def history_from_rows(rows: Sequence[Sequence[Any]], rule: ConsentRule) -> LoanHistory | None:
    """What feeds a reader's lists, from `recsys.db.reader_state`'s rows, or None when the
    consent rule says they may not get personal suggestions."""
    read = read_rows(rows)
    return read.history if rule.allows(read.consented, read.category) else None


_FEEDS = frozenset(Feedback.POSITIVE)
_EVENT_ORDER = itemgetter(4, 2, 3)  # time, then book and event for a stable order
