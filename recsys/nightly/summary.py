"""The run summary: what a nightly did, how long each step took, and what it decided.

Stored as JSON in the `runs` table (plotted by notebooks through `recsys.db.runs.list_runs`) and
printed at the end of every run in plain words. It holds counts, never reader ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Final statuses, one per exit code of `recsys nightly`.
PUBLISHED = "published"
REFUSED = "refused"
FAILED = "failed"
NOTHING_TO_DO = "nothing_to_do"


@dataclass
class RunSummary:
    """Accumulates a run's facts while it runs; `as_dict` is what gets stored."""

    run_id: str
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    status: str = "running"
    decision: str | None = None
    explanation: str | None = None
    failed_step: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    published_run_id: str | None = None
    previous_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["seconds"] = round((self.finished_at or time.time()) - self.started_at, 3)
        return data


def format_summary(summary: RunSummary, *, metric: str) -> str:
    """The end-of-run text: decision first, then counts, timings and metrics."""
    lines = [
        f"nightly run {summary.run_id}: {summary.status.upper()}"
        + (f" ({summary.decision})" if summary.decision else ""),
    ]
    if summary.explanation:
        lines.append(summary.explanation)
    if summary.error:
        lines.append(f"failed in step {summary.failed_step}: {summary.error}")
    ingest = summary.counts.get("ingest")
    if ingest:
        rows = ", ".join(f"{kind} {n}" for kind, n in ingest["rows_accepted"].items() if n)
        old = ingest["rows_past_retention"]
        lines.append(
            f"ingest: {ingest['files_ingested']} new files, {ingest['files_skipped']} already "
            f"known, {ingest['files_rejected']} rejected; rows stored: {rows or 'none'}; "
            f"rows quarantined: {ingest['rows_quarantined']}"
            + (f"; rows older than the retention window, not stored: {old}" if old else "")
        )
    validate = summary.counts.get("validate")
    if validate:
        deleted = sum(validate["deleted"].values())
        overlong = sum(validate["overlong_ids"].values())
        lines.append(
            f"data: {validate['loans']} loan events stored; {deleted} events past retention "
            f"deleted; newest 24 h: {validate['newest_period_loans']} loans "
            f"(same time in earlier weeks: median {validate['reference_median']}, expected "
            f"{validate['expected_loans']})"
            + (f"; stored rows left out for an id too long: {overlong}" if overlong else "")
        )
    train = summary.counts.get("train")
    if train:
        lines.append(
            f"train: {train['model']} on {train['interactions']} interactions of "
            f"{train['readers']} readers and {train['books']} books"
        )
    if summary.metrics:
        lines.append(f"holdout {metric} (higher is better):")
        for name, values in summary.metrics.items():
            value = values.get(metric)
            shown = "n/a" if value is None else f"{value:.4f}"
            lines.append(f"  {name:<22} {shown}")
    if summary.timings:
        steps = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in summary.timings.items())
        lines.append(f"timings: {steps}; total {summary.as_dict()['seconds']:.1f}s")
    if summary.published_run_id:
        lines.append(f"serving: run {summary.published_run_id}")
    return "\n".join(lines)
