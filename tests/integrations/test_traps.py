"""The traps real exports set, and the errors a preset gives: each with its message."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recsys.config import Settings
from recsys.db.tables import ingested_files, loans, quarantine
from recsys.exceptions import ConfigurationError, InputFormatError
from recsys.ingest import ingest_file
from recsys.integrations.exports import choose_preset
from recsys.integrations.presets import PRESETS, get_preset

ISSUES_HEADER = "borrowernumber,itemnumber,biblionumber,issuedate,renewals_count,branchcode\n"
STATISTICS_HEADER = "datetime,branch,type,itemnumber,borrowernumber\n"
ITEMS_HEADER = "itemnumber,biblionumber,homebranch\n"


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "".join(f"{row}\n" for row in rows))
    return path


def _count(engine: Engine, table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _stored_events(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as connection:
        query = select(loans.c.book_id, loans.c.event, loans.c.borrowed_at).order_by(
            loans.c.borrowed_at, loans.c.event
        )
        return [tuple(row) for row in connection.execute(query)]


def _issues(anonymous: int, readers: int, per_reader: int) -> list[str]:
    """`anonymous` loans under borrowernumber 4242, then `per_reader` loans of each reader."""
    rows = [
        f"4242,{9000 + n % 20},{100 + n % 20},2025-03-01 10:{n % 60:02d}:00,0,CPL"
        for n in range(anonymous)
    ]
    rows += [
        f"{51 + r},{9000 + j},{100 + j},2025-03-0{1 + j % 9} 11:{r:02d}:00,0,CPL"
        for r in range(readers)
        for j in range(per_reader)
    ]
    return rows


def test_unknown_preset_lists_the_valid_ones(settings: Settings) -> None:
    with pytest.raises(ConfigurationError) as error:
        get_preset("koha")
    message = str(error.value)
    assert message.startswith("--preset must be one of ") and message.endswith("got 'koha'")
    assert all(name in message for name in PRESETS) and "'none'" in message
    configured = settings.model_copy(update={"loan_preset": "sirsi-dynix"})
    with pytest.raises(
        ConfigurationError, match=r"^RECSYS_LOAN_PRESET must be one of .*got 'sirsi-dynix'"
    ):
        choose_preset(configured, None)
    assert choose_preset(configured, "none") is None
    assert choose_preset(configured, "Koha-Issues") is PRESETS["koha-issues"]


def test_missing_columns_are_all_named(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    path = _write(tmp_path / "stats.csv", "datetime,branch,itemnumber\n", ["2025-03-01,CPL,9001"])
    with pytest.raises(InputFormatError) as error:
        ingest_file(engine, settings, kind="loans", path=path, preset="koha-statistics")
    assert str(error.value).startswith(
        "stats.csv: the koha-statistics preset needs the column(s) 'borrowernumber', 'type', "
        "which the file lacks (expected the statistics table (datetime, branch, type, "
        "itemnumber, borrowernumber)); found columns: ['datetime', 'branch', 'itemnumber']"
    )
    no_item = _write(
        tmp_path / "stats2.csv", "datetime,type,borrowernumber\n", ["2025-03-01,issue,51"]
    )
    with pytest.raises(InputFormatError, match=r"needs the column\(s\) 'itemnumber', which"):
        ingest_file(engine, settings, kind="loans", path=no_item, preset="koha-statistics")
    no_book = _write(tmp_path / "issues.csv", "borrowernumber,issuedate\n", ["51,2025-03-01"])
    with pytest.raises(
        InputFormatError, match=r"needs the column\(s\) 'biblionumber' or 'itemnumber',"
    ):
        ingest_file(engine, settings, kind="loans", path=no_book, preset="koha-issues")


def test_anonymous_patron_holding_most_loans_is_refused_then_set_aside_once_named(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = _issues(0, 10, 5) + _issues(100, 0, 0)  # the anonymous patron from line 52 on
    path = _write(tmp_path / "old_issues.csv", ISSUES_HEADER, rows)
    small_chunks = settings.model_copy(update={"ingest_chunk_rows": 40})  # counted across chunks
    with pytest.raises(InputFormatError) as error:
        ingest_file(engine, small_chunks, kind="loans", path=path, preset="koha-issues")
    message = str(error.value)
    assert message.startswith(
        "old_issues.csv: one reader id holds 100 of the file's 150 loan events (67% > "
        "RECSYS_MAX_READER_SHARE 50%), first at line 52."
    )
    assert (
        "name that id in RECSYS_ANONYMOUS_READER_IDS, or raise RECSYS_MAX_READER_SHARE" in message
    )
    assert message.endswith("Nothing of the file was stored") and "4242" not in message
    assert (
        _count(engine, loans) == _count(engine, ingested_files) == _count(engine, quarantine) == 0
    )

    named = settings.model_copy(update={"anonymous_reader_ids": " 4242 , 9999"})
    report = ingest_file(engine, named, kind="loans", path=path, preset="koha-issues")
    assert (report.rows_accepted, report.set_aside) == (50, {"anonymized": 100})
    assert _count(engine, loans) == 50


def test_a_heavy_reader_of_a_small_file_is_not_judged(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "issues.csv", ISSUES_HEADER, _issues(60, 6, 5))  # 90 events
    report = ingest_file(engine, settings, kind="loans", path=path, preset="koha-issues")
    assert report.rows_accepted == 90


def test_plain_loans_files_get_the_same_guard_and_setting(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = [f"ANON,B{n % 7},2025-03-01T10:{n % 60:02d}:{n // 60:02d}" for n in range(120)]
    rows += [f"CARD-{n},B{n % 7},2025-03-02" for n in range(40)]
    path = _write(tmp_path / "loans.csv", "reader_id,book_id,borrowed_at\n", rows)
    with pytest.raises(InputFormatError, match=r"one reader id holds 120 of the file's 160 loan"):
        ingest_file(engine, settings, kind="loans", path=path)
    lenient = settings.model_copy(update={"max_reader_share": 0.8})
    assert ingest_file(engine, lenient, kind="loans", path=path).rows_accepted == 160

    other = _write(tmp_path / "more.csv", "reader_id,book_id,borrowed_at\n", rows[:3] + rows[-3:])
    named = settings.model_copy(update={"anonymous_reader_ids": "ANON"})
    report = ingest_file(engine, named, kind="loans", path=other)
    assert (report.rows_accepted, report.rows_already_stored, report.set_aside) == (
        0,
        3,
        {"anonymized": 3},
    )


def test_known_anonymous_ids_and_blank_readers_are_set_aside_not_quarantined(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        "0,9001,101,2025-03-01,0,CPL",
        ",9002,102,2025-03-01,0,CPL",
        "51,9003,103,2025-03-01,0,",
    ]
    path = _write(tmp_path / "old_issues.csv", ISSUES_HEADER, rows)
    report = ingest_file(engine, settings, kind="loans", path=path, preset="koha-issues")
    assert (report.rows_accepted, report.rows_quarantined) == (1, 0)
    assert report.set_aside == {"anonymized": 2}
    assert "  set aside, not loan events, never stored: anonymized 2" in report.summary_lines()


def test_renewals_become_renewal_events_dated_when_the_export_says(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    header = "borrowernumber,itemnumber,biblionumber,issuedate,lastreneweddate,renewals_count\n"
    rows = ["51,9001,101,2025-03-01 10:00:00,2025-03-15 09:00:00,2", "52,9002,102,2025-03-02,,0"]
    path = _write(tmp_path / "issues.csv", header, rows)
    ingest_file(engine, settings, kind="loans", path=path, preset="koha-issues")
    day = pd.Timestamp("2025-03-01", tz="UTC").timestamp()
    assert _stored_events(engine) == [
        ("101", "loan", day + 10 * 3600),
        ("102", "loan", day + 86_400),
        ("101", "renewal", day + 14 * 86_400 + 9 * 3600),
    ]


def test_evergreen_renewals_are_circulations_with_a_parent(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    header = "id,usr,xact_start,target_copy,circ_lib,parent_circ,copy_bib_record\n"
    rows = [
        "1,1001,2025-03-01 10:00:00-05,4001,4,,201",
        "2,1001,2025-03-15 10:00:00-05,4001,4,1,201",
    ]
    path = _write(tmp_path / "circ.csv", header, rows)
    ingest_file(engine, settings, kind="loans", path=path, preset="evergreen-circ")
    assert [(book, event) for book, event, _ in _stored_events(engine)] == [
        ("201", "loan"),
        ("201", "renewal"),
    ]


def test_item_level_loans_need_a_stored_items_export(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "stats.csv", STATISTICS_HEADER, ["2025-03-01,CPL,issue,9001,51"])
    with pytest.raises(InputFormatError) as error:
        ingest_file(engine, settings, kind="loans", path=path, preset="koha-statistics")
    assert str(error.value) == (
        "stats.csv: koha-statistics names copies (itemnumber), which map to records through "
        "the items export, and no items are stored yet. Ingest Koha's items export first: the "
        "items table (SELECT itemnumber, biblionumber, homebranch FROM items) (recsys ingest "
        "items FILE --preset koha-statistics, or drop it into inbox/items/)"
    )


def test_unmapped_items_are_quarantined_with_their_reason(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    items = _write(tmp_path / "items.csv", ITEMS_HEADER, ["9001,101,CPL", "9002,102,MPL"])
    assert (
        ingest_file(
            engine, settings, kind="items", path=items, preset="koha-statistics"
        ).rows_accepted
        == 2
    )
    rows = [
        "2025-03-01 10:00:00,CPL,issue,9001,51",
        "2025-03-01 10:05:00,CPL,return,9001,51",
        "2025-03-01 11:00:00,MPL,issue,9002,52",
        "2025-03-01 12:00:00,MPL,issue,9555,53",
        "2025-03-01 12:30:00,MPL,renew,9001,51",
    ]
    path = _write(tmp_path / "stats.csv", STATISTICS_HEADER, rows)
    report = ingest_file(
        engine, settings, kind="loans", path=path, preset="koha-statistics", max_bad_share=0.5
    )
    assert (report.rows_accepted, report.reasons, report.set_aside) == (
        3,
        {"unknown_item": 1},
        {"return": 1},
    )
    with engine.connect() as connection:
        line, reason, detail = connection.execute(
            select(quarantine.c.line_number, quarantine.c.reason, quarantine.c.detail)
        ).one()
    assert (line, reason) == (5, "unknown_item")
    assert '"copy_id": "9555"' in detail and '"reader_id": "<redacted>"' in detail
    assert [(book, event) for book, event, _ in _stored_events(engine)] == [
        ("101", "loan"),
        ("102", "loan"),
        ("101", "renewal"),
    ]


def test_a_transaction_type_no_rule_knows_is_quarantined(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _write(tmp_path / "items.csv", ITEMS_HEADER, ["9001,101,CPL"])
    ingest_file(
        engine, settings, kind="items", path=tmp_path / "items.csv", preset="koha-statistics"
    )
    rows = ["2025-03-01,CPL,issue,9001,51", "2025-03-02,CPL,transfer,9001,51"]
    path = _write(tmp_path / "stats.csv", STATISTICS_HEADER, rows)
    report = ingest_file(
        engine, settings, kind="loans", path=path, preset="koha-statistics", max_bad_share=0.5
    )
    assert (report.rows_accepted, report.reasons) == (1, {"unknown_event": 1})


def test_options_that_do_not_fit_the_kind_are_refused(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "views.csv", "session_id,book_id,viewed_at\n", ["s1,B1,2025-03-01"])
    with pytest.raises(
        InputFormatError,
        match=r"^--preset applies to \['loans', 'items', 'catalog'\] files; got 'views'$",
    ):
        ingest_file(engine, settings, kind="views", path=path, preset="koha-issues")
    with pytest.raises(
        InputFormatError, match=r"^--id-field applies to catalog files; got 'views'$"
    ):
        ingest_file(engine, settings, kind="views", path=path, id_field="999c")
    loans_file = _write(tmp_path / "issues.csv", ISSUES_HEADER, ["51,9001,101,2025-03-01,0,CPL"])
    with pytest.raises(InputFormatError, match=r"--columns and the koha-issues preset both map"):
        ingest_file(
            engine, settings, kind="loans", path=loans_file, preset="koha-issues",
            column_map={"reader_id": "borrowernumber"},
        )  # fmt: skip
    with pytest.raises(InputFormatError, match=r"Alma's loans name their record, so the alma-"):
        ingest_file(engine, settings, kind="items", path=loans_file, preset="alma-fulfillment")
    # the configured preset never applies to the other kinds: views are read as ours
    configured = settings.model_copy(update={"loan_preset": "koha-issues"})
    assert ingest_file(engine, configured, kind="views", path=path).rows_accepted == 1
