"""Small rules the presets are built from: which rows are loan events, which were renewed.

A rule reads a chunk of an export by *role* (``reader_id``, ``event``, ``renewals``, ...: the
names a preset gives its columns) and answers per row. Rules that need a system's quirks live
in that system's module (`recsys.integrations.evergreen`, `recsys.integrations.alma`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events

#: The role of the export's transaction type column.
EVENT = "event"
#: The role of a count of renewals (a loan export's one row per loan).
RENEWALS = "renewals"
#: The role of the time of the last renewal, when the export has it.
RENEWED_AT = "renewed_at"


@dataclass(frozen=True)
class Classified:
    """Per row: our event, or why the row is set aside (not a loan event at all)."""

    #: Our event name; an export value no rule knows is kept, so validation quarantines it.
    event: pd.Series
    #: Why the row is not stored (a return, in-library use, ...); missing for loan events.
    set_aside: pd.Series


Classifier = Callable[[pd.DataFrame], Classified]
RenewalRule = Callable[[pd.DataFrame], pd.Series]


def text(raw: pd.DataFrame, role: str) -> pd.Series:
    """Column `role` stripped, as object strings; missing (or absent column) as NaN.

    Only the column's distinct values are stripped: exports repeat the same few branch codes,
    transaction types and ids over millions of rows.
    """
    if role not in raw:
        return pd.Series(np.nan, index=raw.index, dtype=object)
    codes, uniques = pd.factorize(raw[role])
    stripped = [str(value).strip() or np.nan for value in np.asarray(uniques, dtype=object)]
    values = np.asarray([*stripped, np.nan], dtype=object)[codes]  # code -1: missing
    return pd.Series(values, index=raw.index, dtype=object)


def loan_time(raw: pd.DataFrame) -> pd.Series:
    """The export's loan time as it is written (the validator cleans and reads ISO 8601 and
    Unix seconds; times are nearly all distinct, so they are not stripped here)."""
    if C.BORROWED_AT not in raw:
        return pd.Series(np.nan, index=raw.index, dtype=object)
    times = raw[C.BORROWED_AT].astype(object)
    return times.where(times.notna() & (times != ""), np.nan)


def every_row_a_loan(raw: pd.DataFrame) -> Classified:
    """Loan exports with one row per loan (Koha issues, FOLIO loans, ...)."""
    return Classified(
        event=pd.Series(Events.LOAN, index=raw.index, dtype=object),
        set_aside=pd.Series(None, index=raw.index, dtype=object),
    )


def by_transaction_type(events: Mapping[str, str], not_loans: Collection[str]) -> Classifier:
    """Transaction logs (Koha statistics): `events` maps types onto ours, `not_loans` are
    set aside under their own name (a return is not a loan); other types stay as they are."""

    def classify(raw: pd.DataFrame) -> Classified:
        kind = text(raw, EVENT).str.lower()
        aside = kind.where(kind.isin(list(not_loans)))
        return Classified(event=kind.map(dict(events)).fillna(kind), set_aside=aside)

    return classify


def renewal_count_above_zero(
    also: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> RenewalRule:
    """Loans whose export counts at least one renewal (or that `also` says were renewed).

    Such exports give how many renewals, not when: each renewed loan becomes one renewal event.
    """

    def renewed(raw: pd.DataFrame) -> pd.Series:
        count = pd.to_numeric(text(raw, RENEWALS), errors="coerce").fillna(0)
        result = count > 0
        return result | also(raw) if also is not None else result

    return renewed


def one_of(role: str, values: Collection[str]) -> Callable[[pd.DataFrame], pd.Series]:
    """Rows whose `role` is one of `values` (compared without case)."""
    wanted = [value.lower() for value in values]
    return lambda raw: text(raw, role).str.lower().isin(wanted)


def true_flag(raw: pd.DataFrame, role: str) -> pd.Series:
    """Rows whose boolean column `role` is true as databases write it (t, true, 1, y, yes)."""
    return text(raw, role).str.lower().isin(["t", "true", "1", "y", "yes"])
