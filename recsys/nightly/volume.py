"""The volume check: does the newest day of loans look like a complete export?

The loans of the newest 24 hours of data (ending at the newest loan, so the check depends on
neither the library's time zone nor its export cut-off) are compared like with like: with the
same 24 hours of the week in the `REFERENCE_WEEKS` weeks before. Libraries keep weekly hours
(many close on Sundays, branches often on Mondays too, Saturdays are short), so a quiet Sunday is
held against earlier Sundays, never against a weekday, and a time of the week without loans in
the earlier weeks is not checked at all. Same weekday was chosen over opening days learnt from
the history because it needs no calendar and no time zone, and it also covers days that are
open but quiet. Weeks without loans at that time (a closure) are left out of the median. A night
with nothing new checks the same window again, so an empty inbox never looks like a collapse.

The expectation is scaled down by the current level: the median, over the six 24-hour periods
before the newest, of each one's loans against its own time of the week in the earlier weeks.
The end of a term, summer and holiday seasons lower every day of the week at once; without the
scaling their first days would all fail. The scale only lowers: a busy week never raises the bar.

The newest period fails when it holds fewer than ``1 - max_volume_drop`` times the expectation
and, so that a small library's counts do not fail by chance, also fewer than the expectation
minus `NOISE_DEVIATIONS` times its square root (the standard deviation of a Poisson count).

What it cannot tell apart from an incomplete export: a public holiday on which a few loans still
happen (e-books, renewals). That night fails with the numbers, the published model stays in
service, and the next night trains as usual.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from recsys.db import queries

DAY = 86_400
WEEK = 7
REFERENCE_WEEKS = 4
#: 24-hour periods the check reads: the newest week and the reference weeks before it
PERIODS = WEEK * (REFERENCE_WEEKS + 1)
#: Fewer weeks with loans at a time of the week than this: that time is not checked
MIN_REFERENCE_WEEKS = 2
NOISE_DEVIATIONS = 3.0


@dataclass(frozen=True)
class VolumeCheck:
    """The newest 24 hours' loans and what they were held against."""

    newest: int
    #: median loans of the same 24 hours of the week in the reference weeks (None: not checked)
    same_time_median: float | None
    #: how the six periods before the newest compared with their own weeks (at most 1)
    level: float
    #: fewer loans than this fail the check
    floor: float | None

    @property
    def expected(self) -> float | None:
        return None if self.same_time_median is None else self.same_time_median * self.level

    @property
    def failed(self) -> bool:
        return self.floor is not None and self.newest < self.floor

    def problem(self, *, max_drop: float) -> str:
        """What a failed check tells the operator, with its numbers."""
        return (
            f"the newest 24 hours of data hold {self.newest} loans, against {self.expected:.0f} "
            f"expected: the median of the same 24 hours of the week in the {REFERENCE_WEEKS} "
            f"weeks before is {self.same_time_median:g}, scaled by {self.level:.2f} for how the "
            "six days before compared with their own weeks. A drop of more than "
            f"max_volume_drop={max_drop:g} (RECSYS_MAX_VOLUME_DROP) suggests an incomplete "
            "export; if the library was closed that day (a public holiday), the next night "
            "trains as usual"
        )


def check_volume(periods: Sequence[int], *, max_drop: float) -> VolumeCheck:
    """Check `periods[0]`, where `periods[k]` holds the loans of the k-th 24 hours before the
    newest loan (`PERIODS` of them; fewer only when the history is shorter)."""
    newest = int(periods[0]) if len(periods) else 0
    reference = _same_time_median(periods, 0)
    if reference is None:
        return VolumeCheck(newest, None, 1.0, None)
    ratios = [
        periods[k] / median
        for k in range(1, WEEK)
        if (median := _same_time_median(periods, k)) is not None
    ]
    level = min(1.0, float(statistics.median(ratios))) if ratios else 1.0
    expected = reference * level
    floor = min((1 - max_drop) * expected, expected - NOISE_DEVIATIONS * math.sqrt(expected))
    return VolumeCheck(newest, reference, level, floor)


def _same_time_median(periods: Sequence[int], k: int) -> float | None:
    earlier = [periods[j] for j in range(k + WEEK, len(periods), WEEK)][:REFERENCE_WEEKS]
    open_weeks = [n for n in earlier if n > 0]
    if len(open_weeks) < MIN_REFERENCE_WEEKS:
        return None
    return float(statistics.median(open_weeks))


def loans_per_period(engine: Engine) -> list[int]:
    """Loan counts of the `PERIODS` 24-hour periods ending at the newest loan, newest first."""
    newest = queries.newest_loan_at(engine)
    if newest is None:
        return []
    return queries.loans_per_period(engine, newest=newest, periods=PERIODS, seconds=DAY)
