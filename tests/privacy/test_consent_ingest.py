"""The consent export: raw ids pseudonymized, answers parsed, bad rows quarantined, newest wins."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from recsys.config import Settings
from recsys.consent import load_consent, may_personalize
from recsys.db.tables import quarantine, views
from recsys.ingest import ingest_file
from recsys.privacy import Pseudonymizer


def test_consent_export_is_ingested_under_pseudonyms(
    engine: Engine, settings: Settings, tmp_path: Path, add_views
) -> None:
    pseudonym = Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize
    add_views([("s1", "b1", 1, pseudonym("CARD-2"))])
    export = tmp_path / "consent.csv"
    export.write_text(
        "reader_id,consented,updated_at\n"
        "CARD-1,yes,2024-01-02\n"
        "CARD-2,No,2024-01-02\n"
        "CARD-3,maybe,2024-01-02\n"
        "CARD-1,0,2023-12-01\n"
    )

    report = ingest_file(engine, settings, kind="consent", path=export, max_bad_share=0.5)

    assert (report.rows_read, report.rows_quarantined) == (4, 1)
    assert report.reasons == {"unknown_consent": 1}
    stored = load_consent(engine).set_index("reader_id")["consented"].to_dict()
    assert stored == {pseudonym("CARD-1"): True, pseudonym("CARD-2"): False}
    opt_in = settings.model_copy(update={"consent_mode": "opt-in"})
    assert may_personalize(engine, opt_in, reader_id=pseudonym("CARD-1"))
    with engine.connect() as connection:
        assert connection.execute(select(views.c.reader_id)).scalars().all() == [None]
        details = " ".join(connection.execute(select(quarantine.c.detail)).scalars())
    assert "CARD-3" not in details


def test_consent_without_a_date_takes_the_ingest_time_and_overrides_older_answers(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    pseudonym = Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize
    first = tmp_path / "first.csv"
    first.write_text("reader_id,consented,updated_at\nCARD-1,yes,2020-01-01\n")
    second = tmp_path / "second.csv"
    second.write_text("reader_id,consented\nCARD-1,false\n")
    ingest_file(engine, settings, kind="consent", path=first)
    ingest_file(engine, settings, kind="consent", path=second)
    assert not may_personalize(engine, settings, reader_id=pseudonym("CARD-1"))
    again = ingest_file(engine, settings, kind="consent", path=first)
    assert again.skipped
