"""Alma Analytics' Fulfillment reports: in-house use, and dates written in the report's locale.

An Analytics CSV writes dates as the analysis displays them: ISO (``2024-03-05``, also what
the Analytics API returns), ``3/5/2024`` (US, Alma's default), ``05/03/2024`` or
``05.03.2024`` (day first). Dotted dates are always day first; for slashed ones a chunk's own
values decide (a first number above 12 means day first, a second above 12 month first), and a
chunk that cannot tell is read month first. ``Loan Time``, when exported, is joined to the date.
"""

from __future__ import annotations

import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.integrations.rules import Classified, text, true_flag

IN_HOUSE = "in_house"
LOAN_TIME = "loan_time"
PROCESS_STATUS = "process_status"
IN_HOUSE_USE = "in_house_use"
_NUMERIC_DATE = r"^(?P<first>\d{1,2})(?P<sep>[/.])(?P<second>\d{1,2})[/.](?P<year>\d{4})$"
DAY_FIRST_LIMIT = 12


def classify_fulfillment(raw: pd.DataFrame) -> Classified:
    """In-house loans record use in the library, not a loan: they are set aside."""
    in_house = true_flag(raw, IN_HOUSE)
    return Classified(
        event=pd.Series(Events.LOAN, index=raw.index, dtype=object),
        set_aside=pd.Series(None, index=raw.index, dtype=object).mask(in_house, IN_HOUSE_USE),
    )


def loan_times(raw: pd.DataFrame) -> pd.Series:
    """``Loan Date`` (plus ``Loan Time``) as ISO 8601 text; unreadable dates stay as they are."""
    dates = text(raw, C.BORROWED_AT)
    parts = dates.str.extract(_NUMERIC_DATE)
    numeric = parts["year"].notna()
    if numeric.any():
        first = pd.to_numeric(parts["first"], errors="coerce")
        second = pd.to_numeric(parts["second"], errors="coerce")
        slashed = numeric & (parts["sep"] == "/")
        day_first = (parts["sep"] == ".") | (
            slashed & bool((first[slashed] > DAY_FIRST_LIMIT).any())
        )
        day = second.where(~day_first, first)
        month = first.where(~day_first, second)
        iso = (
            parts["year"]
            + "-"
            + month.astype("Int64").astype(str).str.zfill(2)
            + "-"
            + day.astype("Int64").astype(str).str.zfill(2)
        )
        dates = dates.where(~numeric, iso)
    times = text(raw, LOAN_TIME)
    joined = dates.where(times.isna() | dates.isna(), dates + "T" + times)
    return joined.astype(object)
