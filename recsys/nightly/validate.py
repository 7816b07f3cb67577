"""Checks on the stored data window before training, and the retention rule.

- Retention: events older than ``retention_days`` (counted back from now) are deleted first.
- Stored rows with an id longer than `MAX_ID_LENGTH` (ingested before ids were checked) are
  counted; training leaves them out, so one such row cannot break every nightly.
- Enough data: at least ``min_loans`` loan events must remain; when they do not, the problem says
  how old the newest stored loan was, so a history older than the window is recognised.
- No collapse: the newest 24 hours of loans must look like a complete export, compared with the
  same time of the week in the weeks before (`recsys.nightly.volume`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from recsys.config import Settings
from recsys.data.validation import retention_cutoff, utc_day
from recsys.db.queries import newest_loan_at
from recsys.exceptions import RecsysError
from recsys.nightly.volume import check_volume, loans_per_period


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
    #: median loans of the same 24 hours of the week in the weeks before, and the expectation
    #: after scaling it to the current level (see `recsys.nightly.volume`)
    reference_median: float | None = None
    expected_loans: float | None = None
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
    volume = check_volume(loans_per_period(engine), max_drop=settings.max_volume_drop)
    report.newest_period_loans = volume.newest
    report.reference_median = volume.same_time_median
    report.expected_loans = None if volume.expected is None else round(volume.expected, 1)
    if volume.failed:
        report.problems.append(volume.problem(max_drop=settings.max_volume_drop))
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
