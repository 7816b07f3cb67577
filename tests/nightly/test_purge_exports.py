"""Raw exports (which hold card numbers) are deleted a few days after ingest or rejection."""

from __future__ import annotations

import os
import time
from pathlib import Path

from recsys.config import Settings
from recsys.nightly.inbox import PROCESSED, purge_raw_exports

DAY = 86_400


def _export(folder: Path, name: str, age_days: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("reader_id,book_id,borrowed_at\nP1,B1,2026-01-01\n")
    moved_at = time.time() - age_days * DAY
    os.utime(path, (moved_at, moved_at))
    return path


def test_old_processed_and_rejected_exports_are_deleted(settings: Settings) -> None:
    settings = settings.model_copy(update={"raw_export_days": 7})
    old_processed = _export(settings.inbox_dir / PROCESSED / "loans", "old.csv", 8)
    old_rejected = _export(settings.quarantine_dir / "loans", "bad.csv", 30)
    recent = _export(settings.inbox_dir / PROCESSED / "loans", "recent.csv", 6)
    waiting = _export(settings.inbox_dir / "loans", "new.csv", 100)

    assert purge_raw_exports(settings) == 2

    assert not old_processed.exists()
    assert not old_rejected.exists()
    assert recent.exists()
    assert waiting.exists(), "an export not yet ingested is never deleted"


def test_zero_days_deletes_every_processed_export(settings: Settings) -> None:
    settings = settings.model_copy(update={"raw_export_days": 0})
    path = _export(settings.inbox_dir / PROCESSED / "views", "views.csv", 0.01)
    assert purge_raw_exports(settings) == 1
    assert not path.exists()
