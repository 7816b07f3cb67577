"""Checks on the stored data window before training, and the retention rule.

- Retention: events older than ``retention_days`` (counted back from now) are deleted first.
- Enough data: at least ``min_loans`` loan events must remain.
- No collapse: the loans of the newest 24 hours of data (ending at the newest loan, so the check
  does not depend on the library's time zone or export cut-off) must be at least
  ``1 - max_volume_drop`` times the median of the seven 24-hour periods before it (periods with
  no loans, such as closing days, are left out of the median). A night with nothing new checks
  the same window again, so an empty inbox never looks like a collapse.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from recsys.config import Settings
from recsys.db.tables import loans
from recsys.exceptions import RecsysError

DAY = 86_400
REFERENCE_PERIODS = 7


class DataValidationError(RecsysError):
    """The stored data fail a nightly check; nothing is trained on them."""


@dataclass
class ValidationReport:
    deleted_before: int
    deleted: dict[str, int]
    loans: int
    newest_period_loans: int | None = None
    reference_median: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def validate_store(
    engine: Engine, settings: Settings, *, now: float | None = None
) -> ValidationReport:
    """Apply retention, then check volume; the report lists every problem found."""
    from recsys.db.queries import count_loans, delete_events_before

    cutoff = int((time.time() if now is None else now) - settings.retention_days * DAY)
    deleted = delete_events_before(engine, cutoff=cutoff)
    report = ValidationReport(
        deleted_before=cutoff, deleted=deleted, loans=int(count_loans(engine))
    )
    if report.loans < settings.min_loans:
        report.problems.append(
            f"only {report.loans} loan events are stored; at least min_loans="
            f"{settings.min_loans} (RECSYS_MIN_LOANS) are needed to train"
        )
    periods = loans_per_period(engine, periods=REFERENCE_PERIODS + 1)
    if periods:
        newest, reference = periods[0], [n for n in periods[1:] if n > 0]
        report.newest_period_loans = newest
        if len(reference) >= 2:
            median = float(statistics.median(reference))
            report.reference_median = median
            floor = (1 - settings.max_volume_drop) * median
            if newest < floor:
                report.problems.append(
                    f"the newest 24 hours of data hold {newest} loans, against a median of "
                    f"{median:g} in the {len(reference)} periods before; a drop of more than "
                    f"max_volume_drop={settings.max_volume_drop:g} (RECSYS_MAX_VOLUME_DROP) "
                    "suggests an incomplete export"
                )
    return report


def loans_per_period(engine: Engine, *, periods: int) -> list[int]:
    """Loan counts of consecutive 24-hour periods ending at the newest loan, newest first."""
    with engine.connect() as connection:
        newest = connection.execute(select(func.max(loans.c.borrowed_at))).scalar()
        if newest is None:
            return []
        # Period k holds loans with newest - (k+1) days < borrowed_at <= newest - k days.
        period = (int(newest) - loans.c.borrowed_at) // DAY
        rows = connection.execute(
            select(period.label("period"), func.count())
            .where(loans.c.borrowed_at > int(newest) - periods * DAY)
            .group_by("period")
        ).all()
    counts = [0] * periods
    for index, count in rows:
        if 0 <= int(index) < periods:
            counts[int(index)] += int(count)
    return counts
