"""The data checks, the inbox order and file moves, and progress output, in-process."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.db.tables import loans
from recsys.nightly import steps
from recsys.nightly.inbox import discover, ingest_inbox
from recsys.nightly.progress import Progress
from recsys.nightly.validate import DataValidationError, validate_store
from recsys.nightly.volume import DAY

NOW = 1_790_000_000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        pseudonym_key="p" * 40,
        min_loans=10,
        max_volume_drop=0.5,
        retention_days=730,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


def add_daily_loans(engine: Engine, counts: list[int], *, end: int = NOW) -> None:
    """counts[0] loans in the newest 24 hours before `end`, counts[1] the day before, ..."""
    rows = [
        {
            "reader_id": f"r{day}-{i}",
            "book_id": f"b{i % 9}",
            "borrowed_at": end - day * DAY - i,
            "event": "loan",
        }
        for day, count in enumerate(counts)
        for i in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(loans), rows)


#: Loans of five weeks, newest day first: a Sunday with a few e-book loans, a short Saturday,
#: then Friday back to Monday; and the same five weeks ending on the Friday.
WEEKS = [2, 20, 50, 48, 52, 49, 51] * 5
TO_FRIDAY = WEEKS[2:] + WEEKS[:2]


def test_volume_collapse_is_reported(settings: Settings, engine: Engine) -> None:
    add_daily_loans(engine, [5, *TO_FRIDAY[1:]])  # a Friday with 5 loans
    report = validate_store(engine, settings, now=NOW)
    assert (report.newest_period_loans, report.reference_median) == (5, 50)
    (problem,) = report.problems
    assert problem.startswith(
        "the newest 24 hours of data hold 5 loans, against 50 expected: the median of the same "
        "24 hours of the week in the 4 weeks before is 50, scaled by 1.00 for how the six days "
        "before compared with their own weeks. A drop of more than max_volume_drop=0.5 "
        "(RECSYS_MAX_VOLUME_DROP) suggests an incomplete export"
    )


def test_a_library_closed_on_sundays_passes_its_sundays_and_mondays(
    settings: Settings, engine: Engine
) -> None:
    add_daily_loans(engine, WEEKS)  # the night after a Sunday with 2 loans
    sunday = validate_store(engine, settings, now=NOW)
    assert sunday.ok, sunday.problems
    assert (sunday.newest_period_loans, sunday.reference_median) == (2, 2)
    add_daily_loans(engine, [51], end=NOW + DAY)  # and the Monday after
    monday = validate_store(engine, settings, now=NOW + DAY)
    assert monday.ok, monday.problems
    assert monday.reference_median == 51


def test_a_quieter_week_lowers_what_is_expected(settings: Settings, engine: Engine) -> None:
    add_daily_loans(engine, [n // 3 for n in TO_FRIDAY[:7]] + TO_FRIDAY[7:])  # a term ended
    report = validate_store(engine, settings, now=NOW)
    assert report.ok, report.problems
    assert report.newest_period_loans == 16 and report.reference_median == 50
    assert report.expected_loans is not None and 15 < report.expected_loans < 18


def test_retention_deletes_old_events_and_min_loans_counts_the_rest(
    settings: Settings, engine: Engine
) -> None:
    add_daily_loans(engine, [5])
    add_daily_loans(engine, [20], end=NOW - 800 * DAY)
    report = validate_store(engine, settings, now=NOW)
    assert report.deleted["loans"] == 20
    assert report.loans == 5
    assert report.problems == [
        "only 5 loan events are newer than the retention window of 730 days "
        "(RECSYS_RETENTION_DAYS: loans since 2024-09-21); at least min_loans=10 "
        "(RECSYS_MIN_LOANS) are needed to train"
    ]


def test_a_store_holding_only_loans_past_retention_says_how_old_they_were(
    settings: Settings, engine: Engine
) -> None:
    add_daily_loans(engine, [20, 20], end=NOW - 800 * DAY)
    report = validate_store(engine, settings, now=NOW)
    assert (report.deleted["loans"], report.loans) == (40, 0)
    assert report.problems == [
        "only 0 loan events are newer than the retention window of 730 days "
        "(RECSYS_RETENTION_DAYS: loans since 2024-09-21); at least min_loans=10 "
        "(RECSYS_MIN_LOANS) are needed to train; the newest stored loan was from 2024-07-13: "
        "ingest newer exports, or raise RECSYS_RETENTION_DAYS to train on older history"
    ]


def test_a_history_import_older_than_the_window_is_not_stored_and_the_nightly_says_why(
    settings: Settings, engine: Engine
) -> None:
    folder = settings.inbox_dir / "loans"
    folder.mkdir(parents=True)
    days = [date.today() - timedelta(days=n) for n in range(731, 1_100)]
    rows = "".join(f"R{i % 40},B{i % 13},{day.isoformat()}\n" for i, day in enumerate(days))
    (folder / "history.csv").write_text("reader_id,book_id,borrowed_at\n" + rows)
    ctx = steps.RunContext("test-run", engine, Progress("none"))

    report = steps.ingest(settings, ctx)

    (outcome,) = report.files
    assert (outcome.rows_read, outcome.rows_accepted) == (len(days), 0)
    assert outcome.rows_past_retention == len(days)
    with pytest.raises(DataValidationError) as failure:
        steps.validate(settings, ctx)
    message = str(failure.value)
    assert "only 0 loan events are newer than the retention window of 730 days" in message
    assert "; no loan is stored; " in message
    assert (
        f"tonight's exports held {len(days)} loans and views older than the retention window, "
        f"which were not stored (the newest of them from {days[0].isoformat()})"
    ) in message


def test_discover_orders_kinds_then_names_and_ignores_dot_files(tmp_path: Path) -> None:
    for rel in (
        "views/v.csv",
        "loans/b.csv",
        "loans/a.csv",
        "loans/.a.csv.tmp",
        "catalog/c.mrc",
        "holdings/h.csv",
        "processed/loans/old.csv",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = [item.label for item in discover(tmp_path)]
    assert found == ["catalog/c.mrc", "holdings/h.csv", "loans/a.csv", "loans/b.csv", "views/v.csv"]


def test_same_export_name_twice_keeps_both_files(settings: Settings, engine: Engine) -> None:
    folder = settings.inbox_dir / "loans"
    folder.mkdir(parents=True)
    for day in ("2026-11-19", "2026-11-20"):
        (folder / "loans.csv").write_text(f"reader_id,book_id,borrowed_at\nR1,B1,{day}\n")
        report = ingest_inbox(engine, settings, progress=Progress("none"))
        assert [f.status for f in report.files] == ["ingested"]
    processed = sorted(p.name for p in (settings.inbox_dir / "processed" / "loans").iterdir())
    assert processed == ["loans.1.csv", "loans.csv"]
    assert not list(folder.iterdir())


def test_progress_lines_and_bars() -> None:
    lines = io.StringIO()
    Progress("lines", stream=lines).rows("ingest: loans/a.csv")(1200)
    assert lines.getvalue().endswith(" ingest: loans/a.csv: 1200 rows\n")
    bars = io.StringIO()
    tracker = Progress("bars", stream=bars).rows("ingest: loans/a.csv")
    tracker(1200)
    tracker.close()
    assert "ingest: loans/a.csv" in bars.getvalue() and "rows" in bars.getvalue()
    with pytest.raises(ValueError, match="progress mode must be auto, bars, lines or none"):
        Progress("loud")  # type: ignore[arg-type]
