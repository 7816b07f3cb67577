"""Ingest one export file into the store: read, validate, pseudonymize, write, all or nothing.

A file's rows, its quarantined rows and its `ingested_files` record are written in one transaction,
so a killed process leaves either the whole file or none of it. The same content (SHA-256) of the
same kind is skipped; rows already stored (same unique key) are counted, not inserted again.
Loans and views older than the retention window are counted, not stored: the nightly would
delete them anyway, so storing them would only make a history import look like it worked.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import UNDATED, apply_consents
from recsys.curation.feedback import apply_events, events_of_export
from recsys.data.readers import LINE_NUMBER, require_readable
from recsys.data.schemas import InputSchema, get_schema
from recsys.data.validation import (
    QUARANTINE_COLUMNS,
    DuplicateFilter,
    Reasons,
    retention_cutoff,
    utc_day,
    validate,
)
from recsys.data.work_evidence import MARC_FIELDS, record_evidence
from recsys.db import ingested_files as stored_files
from recsys.db import works as stored_works
from recsys.db.categories import record_categories
from recsys.exceptions import TooManyBadRowsError
from recsys.integrations.exports import open_export
from recsys.privacy import Pseudonymizer
from recsys.store_key import check_key
from recsys.verified_files import file_sha256

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called after each chunk with the number of rows read so far."""


@dataclass
class IngestReport:
    """What one `ingest_file` call did; `reasons` counts quarantined rows by reason."""

    kind: str
    file_name: str
    sha256: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_already_stored: int = 0
    #: loans or views older than the retention window (not stored), and the newest of them
    rows_past_retention: int = 0
    newest_past_retention: int | None = None
    retention_days: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    #: Export rows that are no loan events (returns, anonymized loans), by reason; never stored.
    set_aside: dict[str, int] = field(default_factory=dict)
    skipped: bool = False
    file_id: int | None = None
    seconds: float = 0.0

    @property
    def bad_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def summary_lines(self) -> list[str]:
        """Human-readable summary: read / accepted / quarantined by reason."""
        if self.skipped:
            return [f"{self.kind} {self.file_name}: already ingested (same content), skipped"]
        lines = [
            f"{self.kind} {self.file_name}: read {self.rows_read}, accepted {self.rows_accepted}, "
            f"quarantined {self.rows_quarantined} ({self.bad_share:.1%}) in {self.seconds:.1f} s"
        ]
        lines += [f"  {reason}: {count}" for reason, count in sorted(self.reasons.items())]
        if self.set_aside:
            counts = ", ".join(
                f"{reason} {count}" for reason, count in sorted(self.set_aside.items())
            )
            lines.append(f"  set aside, not loan events, never stored: {counts}")
        if self.rows_already_stored and self.kind == "feedback":
            lines.append(
                f"  older than the feedback stored, not applied: {self.rows_already_stored}"
            )
        elif self.rows_already_stored:
            lines.append(
                f"  {Reasons.DUPLICATE} (already stored, not inserted again): "
                f"{self.rows_already_stored}"
            )
        if self.rows_past_retention:
            lines.append(
                f"  older than the retention window of {self.retention_days} days "
                f"(RECSYS_RETENTION_DAYS), not stored: {self.rows_past_retention}; the newest of "
                f"them is from {utc_day(self.newest_past_retention)}"
            )
        return lines


def ingest_file(
    engine: Engine,
    settings: Settings,
    *,
    kind: str,
    path: Path | str,
    column_map: dict[str, str] | None = None,
    max_bad_share: float | None = None,
    progress: Progress | None = None,
    now: float | None = None,
    preset: str | None = None,
    id_field: str | None = None,
) -> IngestReport:
    """Ingest `path` as `kind` (loans, views, catalog, holdings, items, consent, feedback) in
    one transaction.

    A system's own export is read through an ILS preset (`preset`, else
    ``RECSYS_LOAN_PRESET``; see `recsys.integrations`); `id_field` says where MARC records
    keep their id.

    Loans and views from before `now` (default: the current time) minus
    ``settings.retention_days`` are counted in the report and not stored.

    Raises
    ------
    InputFormatError
        The file is missing, unreadable, truncated, not CSV/MARC/JSON, lacks a required column,
        or one reader id holds an implausible share of its loans (nothing is stored).
    TooManyBadRowsError
        More than `max_bad_share` (default `settings.max_bad_row_share`) of the rows are bad:
        nothing is stored and a CSV of the bad rows is written under `settings.quarantine_dir`.
    ConfigurationError
        Reader ids must be pseudonymized but the key is missing or too short, or is not the key
        the store is keyed with (`recsys.store_key.KeyMismatchError`).
    """
    started = time.perf_counter()
    schema = get_schema(kind)
    path = Path(path)
    limit = settings.max_bad_row_share if max_bad_share is None else max_bad_share
    pseudonymizer = (
        Pseudonymizer(settings.pseudonym_key_bytes()) if C.READER_ID in schema.columns else None
    )
    require_readable(path)
    report = IngestReport(
        kind=kind,
        file_name=path.name,
        sha256=file_sha256(path),
        retention_days=settings.retention_days,
    )
    cutoff = retention_cutoff(settings.retention_days, now=now)
    if stored_files.already_ingested(engine, kind=kind, sha256=report.sha256):
        report.skipped = True
        logger.info("%s %s: same content already ingested, skipped", kind, path.name)
        return report
    export = open_export(
        engine,
        settings,
        kind=kind,
        path=path,
        column_map=column_map,
        preset=preset,
        id_field=id_field,
    )
    bad_rows: list[pd.DataFrame] = []
    reasons: Counter[str] = Counter()
    with engine.connect() as connection, connection.begin():
        stored_files.tune_for_bulk_load(connection)
        if pseudonymizer is not None:  # another key would split readers from their history
            check_key(connection, pseudonymizer)
        report.file_id = stored_files.record_file(
            connection, kind=report.kind, file_name=report.file_name, sha256=report.sha256
        )
        duplicates = DuplicateFilter()
        with (
            stored_files.deferred_indexes(connection, kind=kind),
            _progress_reporter(progress, path.name) as tick,
        ):
            for chunk in export.chunks:
                result = validate(
                    chunk,
                    schema,
                    duplicates=duplicates,
                    category_codes=settings.category_of_code,
                )
                accepted = _within_retention(result.accepted, schema, cutoff, report)
                if pseudonymizer is not None:
                    accepted = _pseudonymize(accepted, pseudonymizer)
                inserted = _write_rows(connection, schema, accepted, report.file_id)
                if kind == "catalog":
                    stored_works.write_evidence(connection, evidence=_evidence(chunk, accepted))
                stored_files.write_quarantine(
                    connection, kind=kind, frame=result.quarantined, file_id=report.file_id
                )
                report.rows_read += len(chunk)
                report.rows_accepted += inserted
                report.rows_already_stored += len(accepted) - inserted
                report.rows_quarantined += len(result.quarantined)
                reasons.update(result.quarantined["reason"].tolist())
                if len(result.quarantined):
                    bad_rows.append(result.quarantined)
                tick(report.rows_read)
        report.reasons = dict(reasons)
        report.set_aside = dict(export.set_aside)
        report.seconds = time.perf_counter() - started
        if report.bad_share > limit:
            report_path = _write_bad_rows(settings, report, bad_rows)
            # Raising inside the transaction rolls back every row of this file.
            raise TooManyBadRowsError(
                f"{path.name}: {report.rows_quarantined} of {report.rows_read} rows are bad "
                f"({report.bad_share:.1%} > max_bad_share {limit:.1%}); nothing was stored. "
                f"By reason: {_format_reasons(reasons)}. Bad rows: {report_path}"
            )
        if kind == "catalog":
            regrouped = stored_works.regroup(connection)
            logger.info("%s: works derived again, %d records changed work", path.name, regrouped)
        stored_files.record_counts(
            connection,
            file_id=report.file_id,
            rows_read=report.rows_read,
            rows_accepted=report.rows_accepted,
            rows_quarantined=report.rows_quarantined,
        )
    if bad_rows:
        _write_bad_rows(settings, report, bad_rows)
    for line in report.summary_lines():
        logger.info("%s", line)
    return report


def _within_retention(
    frame: pd.DataFrame, schema: InputSchema, cutoff: int, report: IngestReport
) -> pd.DataFrame:
    """The rows of `frame` inside the retention window; the others are counted in `report`."""
    if schema.event_time is None or frame.empty:
        return frame
    times = frame[schema.event_time].to_numpy(dtype=np.int64)
    old = times < cutoff
    if not old.any():
        return frame
    report.rows_past_retention += int(old.sum())
    newest = int(times[old].max())
    report.newest_past_retention = max(newest, report.newest_past_retention or newest)
    return frame.loc[~old].reset_index(drop=True)


def _pseudonymize(frame: pd.DataFrame, pseudonymizer: Pseudonymizer) -> pd.DataFrame:
    present = frame[C.READER_ID].notna()
    if not present.any():
        return frame
    frame = frame.copy()
    pseudonyms = pseudonymizer.pseudonymize_series(frame.loc[present, C.READER_ID])
    frame[C.READER_ID] = frame[C.READER_ID].astype(object)
    frame.loc[present, C.READER_ID] = pseudonyms
    return frame


def _write_rows(
    connection: Connection, schema: InputSchema, frame: pd.DataFrame, file_id: int
) -> int:
    """Insert (or upsert) rows through the raw DBAPI cursor; returns rows inserted or updated.

    A row's reader category (`InputSchema.about_reader`) goes to ``reader_categories``, the
    latest per reader winning."""
    if frame.empty:
        return 0
    if C.READER_CATEGORY in schema.about_reader:
        _write_categories(connection, schema, frame)
    if schema.kind == "consent":  # newest answer wins, withdrawals detach sessions
        return apply_consents(connection, frame)
    if schema.kind == "feedback":  # newest event wins, liked and not interested exclude
        return apply_events(connection, events_of_export(frame), file_id=file_id).applied
    return stored_files.insert_rows(connection, schema, frame, file_id=file_id)


def _write_categories(connection: Connection, schema: InputSchema, frame: pd.DataFrame) -> None:
    """Record the reader category of the rows that carry one, dated by the row's time (the
    time of ingest for an undated consent answer)."""
    named = frame.loc[frame[C.READER_CATEGORY].notna()]
    if named.empty:
        return
    when = schema.event_time or C.UPDATED_AT
    times = named[when].astype("int64").where(named[when].astype("int64") != UNDATED)
    record_categories(
        connection,
        list(
            zip(
                named[C.READER_ID].astype(str),
                named[C.READER_CATEGORY].astype(str),
                times.fillna(int(time.time())).astype("int64").tolist(),
                strict=True,
            )
        ),
    )


def _evidence(chunk: pd.DataFrame, accepted: pd.DataFrame) -> pd.DataFrame:
    """The work evidence of the accepted catalog rows, with the MARC fields that validation
    does not keep (they are not catalog columns)."""
    marc_fields = [name for name in MARC_FIELDS if name in chunk]
    if marc_fields:
        accepted = accepted.merge(chunk[[LINE_NUMBER, *marc_fields]], on=LINE_NUMBER, how="left")
    return record_evidence(accepted)


@contextmanager
def _progress_reporter(progress: Progress | None, name: str) -> Iterator[Progress]:
    """Report rows read: the caller's callback, else tqdm on a terminal, else log lines."""
    if progress is not None:
        yield progress
        return
    if not sys.stderr.isatty():
        yield lambda rows_read: logger.info("%s: %d rows read", name, rows_read)
        return
    with tqdm(desc=name, unit=" rows", unit_scale=True, file=sys.stderr) as bar:

        def advance(rows_read: int) -> None:
            bar.update(rows_read - bar.n)

        yield advance


def _write_bad_rows(settings: Settings, report: IngestReport, bad: list[pd.DataFrame]) -> Path:
    """CSV of bad rows (reason, line number, redacted detail) under the quarantine dir."""
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    name = f"{report.kind}-{report.sha256[:12]}-{report.file_name}.bad.csv"
    target = settings.quarantine_dir / name
    frame = pd.concat(bad, ignore_index=True) if bad else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    frame = frame[["reason", LINE_NUMBER, "detail"]]
    frame.to_csv(target, index=False)
    return target


def _format_reasons(reasons: Counter[str]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
