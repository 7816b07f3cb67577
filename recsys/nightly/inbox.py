"""The inbox: exports dropped by the library system, ingested once each.

Layout under ``data_dir``::

    inbox/{catalog,holdings,items,loans,views,consent}/
                                            new exports (names starting with "." are ignored, so
                                            an exporter can write ``.name.tmp`` and rename it)
    inbox/processed/<kind>/                 ingested (or already-ingested) exports
    quarantine/<kind>/                      rejected exports, each with ``<name>.reason.txt``

Exports hold raw card numbers, which must not outlive ingest for long: processed and rejected
exports are deleted `Settings.raw_export_days` after they were moved (`purge_raw_exports`, run by
the nightly's validate step). The store keeps only pseudonyms and the file's SHA-256, so a
re-dropped export is still recognised and skipped.

Catalog, holdings and items go first so that loans of new books (and of new copies) find their
records; ``RECSYS_LOAN_PRESET`` says which library system wrote the loans, items and MARC
catalog (see `recsys.integrations`). Consent answers go last, so an objection in tonight's
export also detaches tonight's views. Each file is
ingested atomically by `recsys.ingest.ingest_file`, which skips a file whose SHA-256 it has
stored: a run killed between storing a file and moving it simply moves it next time.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.exceptions import InputFormatError, TooManyBadRowsError
from recsys.ingest import IngestReport, ingest_file
from recsys.nightly.progress import Progress

KINDS = ("catalog", "holdings", "items", "loans", "views", "consent", "feedback")
PROCESSED = "processed"

# Errors caused by the file's content: the file is set aside, the run goes on with the others.
FILE_ERRORS: tuple[type[BaseException], ...] = (
    InputFormatError,
    TooManyBadRowsError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    UnicodeDecodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
)


@dataclass(frozen=True)
class InboxFile:
    kind: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.path.name}"


@dataclass
class FileOutcome:
    """What happened to one inbox file (``ingested``, ``skipped`` or ``rejected``)."""

    label: str
    status: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    rows_past_retention: int = 0
    newest_past_retention: int | None = None
    set_aside_by_reason: dict[str, int] = field(default_factory=dict)
    moved_to: str | None = None
    error: str | None = None


@dataclass
class InboxReport:
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def accepted_rows(self, kind: str) -> int:
        return sum(f.rows_accepted for f in self.files if f.label.startswith(f"{kind}/"))

    @property
    def rows_past_retention(self) -> int:
        return sum(f.rows_past_retention for f in self.files)

    @property
    def newest_past_retention(self) -> int | None:
        """The newest of the rows left out as older than the retention window."""
        return max((f.newest_past_retention or 0 for f in self.files), default=0) or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "files_ingested": self.count("ingested"),
            "files_skipped": self.count("skipped"),
            "files_rejected": self.count("rejected"),
            "rows_accepted": {kind: self.accepted_rows(kind) for kind in KINDS},
            "rows_quarantined": sum(f.rows_quarantined for f in self.files),
            "rows_past_retention": self.rows_past_retention,
            "files": [vars(f) for f in self.files],
        }


def discover(inbox_dir: Path) -> list[InboxFile]:
    """New exports in ingest order (catalog, holdings, items, loans, views, consent,
    feedback); by name."""
    found: list[InboxFile] = []
    for kind in KINDS:
        folder = Path(inbox_dir) / kind
        if not folder.is_dir():
            continue
        names = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        found.extend(InboxFile(kind, path) for path in names)
    return found


def ensure_layout(settings: Settings) -> None:
    """Create the inbox folders so a library knows where to drop exports."""
    for kind in KINDS:
        (settings.inbox_dir / kind).mkdir(parents=True, exist_ok=True)


def ingest_inbox(
    engine: Engine,
    settings: Settings,
    *,
    progress: Progress,
) -> InboxReport:
    """Ingest every new inbox file, moving each to ``processed/`` or to the quarantine.

    Errors that are not about a file's content (the database, the disk) propagate: the file stays
    in the inbox and the next run tries again.
    """
    line = progress.line
    report = InboxReport()
    for item in discover(settings.inbox_dir):
        line(f"ingest: reading {item.label}")
        tracker = progress.rows(f"ingest: {item.label}")
        try:
            result = ingest_file(engine, settings, kind=item.kind, path=item.path, progress=tracker)
        except FILE_ERRORS as error:
            message = _describe_error(error)
            target = _move_unique(item.path, settings.quarantine_dir / item.kind)
            reason = target.with_name(target.name + ".reason.txt")
            reason.write_text(f"{item.label} was rejected: {message}\n", encoding="utf-8")
            line(f"ingest: rejected {item.label}: {message}; moved to {target}")
            report.files.append(
                FileOutcome(item.label, "rejected", moved_to=str(target), error=message)
            )
            continue
        finally:
            tracker.close()
        outcome = _outcome(item.label, result)
        old = outcome.rows_past_retention
        past = f"; {old} older than the retention window, not stored" if old else ""
        line(f"ingest: stored {item.label} ({outcome.status}, {outcome.rows_accepted} rows{past})")
        target = _move_unique(item.path, settings.inbox_dir / PROCESSED / item.kind)
        outcome.moved_to = str(target)
        line(f"ingest: moved {item.label} to {PROCESSED}/")
        report.files.append(outcome)
    return report


def _outcome(label: str, result: IngestReport) -> FileOutcome:
    return FileOutcome(
        label=label,
        status="skipped" if result.skipped else "ingested",
        rows_read=result.rows_read,
        rows_accepted=result.rows_accepted,
        rows_quarantined=result.rows_quarantined,
        quarantined_by_reason=dict(result.reasons),
        rows_past_retention=result.rows_past_retention,
        newest_past_retention=result.newest_past_retention,
        set_aside_by_reason=dict(result.set_aside),
    )


def _describe_error(error: BaseException) -> str:
    if isinstance(error, EOFError | gzip.BadGzipFile | zlib.error):
        return f"the compressed file is truncated or corrupt ({type(error).__name__}: {error})"
    return str(error) or type(error).__name__


def _move_unique(source: Path, folder: Path) -> Path:
    """Move `source` into `folder` with an atomic rename, never overwriting an older file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    base, dot, extension = source.name.partition(".")
    counter = 1
    while target.exists():  # same name again (a daily export always called loans.csv.gz)
        target = folder / f"{base}.{counter}{dot}{extension}"
        counter += 1
    os.replace(source, target)
    os.utime(target)  # the purge counts the days from the move, not from the export's mtime
    return target


def purge_raw_exports(settings: Settings, *, now: float | None = None) -> int:
    """Delete processed and rejected exports moved more than `raw_export_days` ago."""
    cutoff = (time.time() if now is None else now) - settings.raw_export_days * 86_400
    folders = [settings.inbox_dir / PROCESSED / kind for kind in KINDS]
    folders += [settings.quarantine_dir / kind for kind in KINDS]
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
