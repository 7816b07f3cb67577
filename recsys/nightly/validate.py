"""Checks on the stored data window before training, and the retention rule.

- Retention: events older than ``retention_days`` (counted back from now) are deleted first.
- Stored rows with an id longer than `MAX_ID_LENGTH` (ingested before ids were checked) are
  counted; training leaves them out, so one such row cannot break every nightly.
- Enough data: at least ``min_loans`` loan events must remain; when they do not, the problem says
  how old the newest stored loan was, so a history older than the window is recognised.
- No collapse: the loans of the newest 24 hours of data (ending at the newest loan, so the check
  does not depend on the library's time zone or export cut-off) must be at least
  ``1 - max_volume_drop`` times the median of the seven 24-hour periods before it (periods with
  no loans, such as closing days, are left out of the median). A night with nothing new checks
  the same window again, so an empty inbox never looks like a collapse.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from recsys.config import Settings
from recsys.data.validation import retention_cutoff, utc_day
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
    #: the newest stored loan before retention (Unix seconds; None when none was stored)
    newest_loan_at: int | None = None
    newest_period_loans: int | None = None
    reference_median: float | None = None
    #: stored rows per table left out of training for an id over `MAX_ID_LENGTH`
    overlong_ids: dict[str, int] = field(default_factory=dict)
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
    from recsys.db.queries import count_loans, count_overlong_ids, delete_events_before

    cutoff = retention_cutoff(settings.retention_days, now=now)
    newest = newest_loan_at(engine)
    deleted = delete_events_before(engine, cutoff=cutoff)
    report = ValidationReport(
        deleted_before=cutoff,
        deleted=deleted,
        loans=int(count_loans(engine)),
        newest_loan_at=newest,
        overlong_ids=count_overlong_ids(engine),
    )
    if report.loans < settings.min_loans:
        report.problems.append(_too_few_loans(report, settings))
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


def _too_few_loans(report: ValidationReport, settings: Settings) -> str:
    problem = (
        f"only {report.loans} loan events are newer than the retention window of "
        f"{settings.retention_days} days (RECSYS_RETENTION_DAYS: loans since "
        f"{utc_day(report.deleted_before)}); at least min_loans={settings.min_loans} "
        "(RECSYS_MIN_LOANS) are needed to train"
    )
    if report.newest_loan_at is None:
        return problem + "; no loan is stored"
    if report.newest_loan_at < report.deleted_before:
        return (
            f"{problem}; the newest stored loan was from {utc_day(report.newest_loan_at)}: "
            "ingest newer exports, or raise RECSYS_RETENTION_DAYS to train on older history"
        )
    return problem


def newest_loan_at(engine: Engine) -> int | None:
    """Unix seconds of the newest stored loan event (None when there is none)."""
    with engine.connect() as connection:
        newest = connection.execute(select(func.max(loans.c.borrowed_at))).scalar()
    return None if newest is None else int(newest)


def loans_per_period(engine: Engine, *, periods: int) -> list[int]:
    """Loan counts of consecutive 24-hour periods ending at the newest loan, newest first."""
    newest = newest_loan_at(engine)
    if newest is None:
        return []
    with engine.connect() as connection:
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
