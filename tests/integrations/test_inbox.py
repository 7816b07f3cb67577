"""The nightly inbox reads a library system's exports through ``RECSYS_LOAN_PRESET``."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine

from recsys.config import Settings
from recsys.db import queries
from recsys.nightly.inbox import ingest_inbox
from recsys.nightly.progress import Progress

from .ils_library import SYSTEMS, koha_biblionumber


def test_the_inbox_takes_items_before_loans_and_the_presets_id_field(
    engine: Engine, db_settings: Settings, tmp_path: Path
) -> None:
    system = SYSTEMS["koha-statistics"]
    settings = db_settings.model_copy(update={"loan_preset": "koha-statistics"})
    exports = tmp_path / "exports"
    exports.mkdir()
    assert system.write_items is not None
    for kind, path in (
        ("catalog", system.write_catalog(exports)),
        ("items", system.write_items(exports)),
        ("loans", system.write_loans(exports)),
    ):
        (settings.inbox_dir / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, settings.inbox_dir / kind / path.name)

    report = ingest_inbox(engine, settings, progress=Progress("none"))

    assert [(f.label, f.status) for f in report.files] == [
        ("catalog/koha-biblios.mrc", "ingested"),
        ("items/koha-items.csv", "ingested"),
        ("loans/koha-statistics.csv", "ingested"),
    ]
    assert report.as_dict()["rows_accepted"] == {
        "catalog": 12, "holdings": 0, "items": 24, "loans": 144, "views": 0, "consent": 0,
        "feedback": 0,
    }  # fmt: skip
    loans = report.files[-1]
    assert loans.set_aside_by_reason == {"return": 96, "localuse": 5, "payment": 5}
    assert loans.rows_quarantined == 0
    assert set(queries.load_catalog(engine)["book_id"]) == {koha_biblionumber(b) for b in range(12)}
