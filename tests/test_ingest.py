"""Ingest contract: privacy at the door, quarantine, all-or-nothing files, idempotency, upserts."""

from __future__ import annotations

import gzip
import itertools
import time
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, inspect, select

from recsys.config import Settings
from recsys.db import queries
from recsys.db.tables import catalog, ingested_files, loans, metadata, quarantine, views
from recsys.exceptions import ConfigurationError, InputFormatError, TooManyBadRowsError
from recsys.ingest import ingest_file
from recsys.privacy import Pseudonymizer

HEADER = "reader_id,book_id,borrowed_at,event,library_id\n"
GOOD = [
    "CARD-1001,B1,2024-01-05,loan,L1\n",
    "CARD-1001,B2,2024-01-06T10:00:00Z,,L1\n",
    "CARD-2002,B1,1704412800,renewal,\n",
    "CARD-3003,B3,2024-02-01,hold,L2\n",
]
BAD = [
    ",B3,2024-01-05,loan,L1\n",  # missing_reader_id
    "CARD-4004,,2024-01-05,loan,L1\n",  # missing_book_id
    "CARD-4004,B3,yesterday,loan,L1\n",  # bad_timestamp
    "CARD-4004,B3,2024-01-05,borrowed,L1\n",  # unknown_event
    "CARD-1001,B1,2024-01-05,loan,L1\n",  # duplicate of the first good row
]
RAW_IDS = ("CARD-1001", "CARD-2002", "CARD-3003", "CARD-4004")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests ingest loans from 2024 whatever today's date: the retention window, which
    would leave them out, has tests of its own."""
    return settings.model_copy(update={"retention_days": 36_500})


def _count(engine: Engine, table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _write(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(lines))
    return path


def test_loans_are_stored_under_pseudonyms_and_bad_rows_quarantined(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "loans.csv", GOOD + BAD)
    report = ingest_file(engine, settings, kind="loans", path=path, max_bad_share=0.6)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (9, 4, 5)
    assert report.reasons == {
        "missing_reader_id": 1,
        "missing_book_id": 1,
        "bad_timestamp": 1,
        "unknown_event": 1,
        "duplicate": 1,
    }
    pseudonym = Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize
    history = queries.reader_history(engine, reader_id=pseudonym("CARD-1001"))
    assert history[["book_id", "event"]].values.tolist() == [["B1", "loan"], ["B2", "loan"]]
    with engine.connect() as connection:
        stored = set(connection.execute(select(loans.c.reader_id)).scalars())
        lines = connection.execute(
            select(quarantine.c.line_number, quarantine.c.reason).order_by(quarantine.c.line_number)
        ).all()
        recorded = connection.execute(select(ingested_files)).mappings().one()
    assert stored == {pseudonym("CARD-1001"), pseudonym("CARD-2002"), pseudonym("CARD-3003")}
    assert [line for line, _ in lines] == [6, 7, 8, 9, 10]
    assert (recorded["rows_read"], recorded["rows_accepted"], recorded["rows_quarantined"]) == (
        9,
        4,
        5,
    )


def test_no_raw_reader_id_anywhere_in_the_database_file_or_quarantine(
    settings: Settings, tmp_path: Path
) -> None:
    from recsys.db.engine import make_engine
    from recsys.db.schema import upgrade

    engine = make_engine(settings)
    upgrade(engine)
    path = _write(tmp_path / "loans.csv", GOOD + BAD)
    views_path = _write(
        tmp_path / "views.csv",
        ["S1,B1,2024-01-05,CARD-2002\n", "S2,B2,2024-01-05,\n", ",B2,2024-01-05,CARD-4004\n"],
        header="session_id,book_id,viewed_at,reader_id\n",
    )
    ingest_file(engine, settings, kind="loans", path=path, max_bad_share=0.6)
    ingest_file(engine, settings, kind="views", path=views_path, max_bad_share=0.5)
    with pytest.raises(TooManyBadRowsError):
        ingest_file(engine, settings, kind="loans", path=_write(tmp_path / "bad.csv", BAD))
    engine.dispose()  # checkpoint the WAL into the main file
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    assert any(p.parent == settings.quarantine_dir for p in files)
    for file in files:
        content = file.read_bytes()
        for raw in RAW_IDS:
            assert raw.encode() not in content, f"{raw} found in {file.name}"


def test_views_pseudonymize_the_optional_reader(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "views.csv",
        ["S1,B1,2024-01-05T08:00:00,CARD-2002\n", "S2,B2,2024-01-05T08:00:00,\n"],
        header="session_id,book_id,viewed_at,reader_id\n",
    )
    report = ingest_file(engine, settings, kind="views", path=path)
    assert report.rows_accepted == 2
    with engine.connect() as connection:
        readers = (
            connection.execute(select(views.c.reader_id).order_by(views.c.session_id))
            .scalars()
            .all()
        )
    pseudonym = Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize
    assert readers == [pseudonym("CARD-2002"), None]


def test_too_many_bad_rows_reject_the_whole_file_and_write_a_report(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "march.csv", GOOD + BAD)
    with pytest.raises(
        TooManyBadRowsError,
        match=r"march\.csv: 5 of 9 rows are bad \(55\.6% > "
        r"max_bad_share 5\.0%\); nothing was stored\. By reason: .*bad_timestamp 1",
    ):
        ingest_file(engine, settings, kind="loans", path=path)
    for table in (loans, quarantine, ingested_files):
        assert _count(engine, table) == 0
    (bad_report,) = settings.quarantine_dir.glob("loans-*-march.csv.bad.csv")
    rows = pd.read_csv(bad_report)
    assert list(rows.columns) == ["reason", "line_number", "detail"]
    assert rows["line_number"].tolist() == [6, 7, 8, 9, 10]
    assert rows["detail"].str.contains("<redacted>").sum() == 4
    fixed = _write(tmp_path / "march-fixed.csv", GOOD)
    assert ingest_file(engine, settings, kind="loans", path=fixed).rows_accepted == 4


def test_same_file_is_skipped_and_overlapping_rows_are_not_stored_twice(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    first = _write(tmp_path / "jan.csv", GOOD[:3])
    assert ingest_file(engine, settings, kind="loans", path=first).rows_accepted == 3
    again = ingest_file(engine, settings, kind="loans", path=first)
    assert again.skipped and again.rows_read == 0
    assert "already ingested" in again.summary_lines()[0]
    overlap = _write(tmp_path / "jan-feb.csv", GOOD[1:])
    report = ingest_file(engine, settings, kind="loans", path=overlap)
    assert (report.rows_read, report.rows_accepted, report.rows_already_stored) == (3, 1, 2)
    assert report.rows_quarantined == 0
    assert any(
        "duplicate (already stored" in line and line.endswith(": 2")
        for line in report.summary_lines()
    )
    assert queries.count_loans(engine) == 4


def test_a_file_failing_midway_leaves_nothing_behind(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    small_chunks = settings.model_copy(update={"ingest_chunk_rows": 1_000})
    lines = [f"CARD-{i},B{i % 50},2024-01-05T10:{i % 60:02d}:00,loan,L1\n" for i in range(1_500)]
    lines[1_200] = "CARD-X,B1,2024-01-05,loan,L1,unquoted,comma\n"
    path = _write(tmp_path / "loans.csv", lines)
    seen: list[int] = []
    with pytest.raises(InputFormatError, match=r"loans\.csv: not valid CSV"):
        ingest_file(engine, small_chunks, kind="loans", path=path, progress=seen.append)
    assert seen == [1_000]  # the first chunk was written inside the transaction...
    for table in (loans, quarantine, ingested_files):
        assert _count(engine, table) == 0  # ...and rolled back with the file
    assert _schema_differences(engine) == []  # indexes deferred for the load are back


def test_indexes_deferred_during_a_first_load_are_rebuilt(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    ingest_file(engine, settings, kind="loans", path=_write(tmp_path / "loans.csv", GOOD))
    assert _schema_differences(engine) == []
    assert {index["name"] for index in inspect(engine).get_indexes("loans")} >= {
        "ix_loans_borrowed_at",
        "ix_loans_book_id",
    }


def _schema_differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_catalog_and_holdings_are_upserted(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    header = "book_id,title,author,audience,year\n"
    old = _write(
        tmp_path / "cat1.csv", ["B1,Emma,Austen,adult,1815\n", "B2,Persuasion,,,\n"], header=header
    )
    new = _write(
        tmp_path / "cat2.csv", ["B1,Emma (annotated),Jane Austen,adult,2003\n"], header=header
    )
    ingest_file(engine, settings, kind="catalog", path=old)
    assert ingest_file(engine, settings, kind="catalog", path=new).rows_accepted == 1
    frame = queries.load_catalog(engine).set_index("book_id")
    assert frame.loc["B1", ["title", "author", "year"]].tolist() == [
        "Emma (annotated)",
        "Jane Austen",
        2003,
    ]
    assert frame.loc["B2", "title"] == "Persuasion" and pd.isna(frame.loc["B2", "author"])
    header = "book_id,library_id,copies,available\n"
    ingest_file(
        engine,
        settings,
        kind="holdings",
        path=_write(tmp_path / "h1.csv", ["B1,L1,2,2\n", "B2,L1,1,0\n"], header=header),
    )
    ingest_file(
        engine,
        settings,
        kind="holdings",
        path=_write(tmp_path / "h2.csv", ["B1,L1,3,1\n"], header=header),
    )
    assert queries.load_holdings(engine).values.tolist() == [["B1", "L1", 3, 1], ["B2", "L1", 1, 0]]


def test_marc_catalog_and_gzip_loans_with_column_map(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    import pymarc

    record = pymarc.Record()
    record.add_field(
        pymarc.Field(tag="001", data="m1"),
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("0", "0"),
            subfields=[pymarc.Subfield("a", "Dune /")],
        ),
    )
    marc_path = tmp_path / "catalog.mrc"
    marc_path.write_bytes(record.as_marc())
    assert ingest_file(engine, settings, kind="catalog", path=marc_path).rows_accepted == 1
    with engine.connect() as connection:
        # stored as the record holds it; lists show it cleaned (recsys.display)
        assert connection.execute(select(catalog.c.title)).scalar_one() == "Dune /"
    packed = tmp_path / "export.csv.gz"
    packed.write_bytes(gzip.compress(b"u;i;when\nCARD-1001;m1;2024-03-01\n"))
    report = ingest_file(
        engine,
        settings,
        kind="loans",
        path=packed,
        column_map={"reader_id": "u", "book_id": "i", "borrowed_at": "when"},
    )
    assert report.rows_accepted == 1
    assert queries.load_dataset(engine).interactions["book_id"].tolist() == ["m1"]


def test_ingest_refuses_to_run_without_a_usable_key(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "loans.csv", GOOD)
    short = settings.model_copy(update={"pseudonym_key": None})
    with pytest.raises(ConfigurationError, match=r"absent\.key.*RECSYS_PSEUDONYM_KEY"):
        ingest_file(engine, short, kind="loans", path=path)
    assert _count(engine, loans) == 0
    from pydantic import SecretStr

    tiny = settings.model_copy(update={"pseudonym_key": SecretStr("too-short")})
    with pytest.raises(ConfigurationError, match="is 9 bytes; at least 32"):
        ingest_file(engine, tiny, kind="loans", path=path)


def test_progress_callback_gets_running_totals(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    small_chunks = settings.model_copy(update={"ingest_chunk_rows": 1_000})
    lines = [f"CARD-{i},B{i % 7},{1_704_412_800 + i},loan,L1\n" for i in range(2_500)]
    seen: list[int] = []
    report = ingest_file(
        engine,
        small_chunks,
        kind="loans",
        path=_write(tmp_path / "l.csv", lines),
        progress=seen.append,
    )
    assert seen == [1_000, 2_000, 2_500]
    assert report.rows_accepted == 2_500


def test_missing_file_and_header_only_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(InputFormatError, match=r"nowhere\.csv: no such file"):
        ingest_file(engine, settings, kind="loans", path=tmp_path / "nowhere.csv")
    report = ingest_file(engine, settings, kind="loans", path=_write(tmp_path / "h.csv", []))
    assert (report.rows_read, report.rows_accepted, report.skipped) == (0, 0, False)
    assert _count(engine, ingested_files) == 1


DAY = 86_400
NOW = 1_790_000_000  # 2026-09-21, before the real today: ingest refuses future times
_examples = itertools.count()


@st.composite
def _events(draw: st.DrawFn) -> tuple[str, int, list[int]]:
    """A kind, a retention window and event times spread around its cutoff (and on it)."""
    days = draw(st.integers(1, 3_000))
    cutoff = NOW - days * DAY
    near = st.integers(-2, 2).map(lambda seconds: cutoff + seconds)
    anywhere = st.integers(NOW - 4_000 * DAY, NOW)
    times = draw(st.lists(st.one_of(near, anywhere), min_size=1, max_size=30))
    return draw(st.sampled_from(["loans", "views"])), days, times


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_events())
def test_events_older_than_the_retention_window_are_counted_and_never_stored(
    engine: Engine, settings: Settings, tmp_path: Path, events: tuple[str, int, list[int]]
) -> None:
    kind, days, times = events
    example = next(_examples)
    if kind == "loans":
        header = "reader_id,book_id,borrowed_at\n"
        lines = [f"CARD-{example}-{i},B{i % 5},{t}\n" for i, t in enumerate(times)]
    else:
        header = "session_id,book_id,viewed_at\n"
        lines = [f"S-{example}-{i},B{i % 5},{t}\n" for i, t in enumerate(times)]
    path = _write(tmp_path / f"{kind}-{example}.csv", lines, header=header)
    window = settings.model_copy(update={"retention_days": days})

    report = ingest_file(engine, window, kind=kind, path=path, now=NOW)

    cutoff = NOW - days * DAY
    old = [t for t in times if t < cutoff]
    table, column = (loans, loans.c.borrowed_at) if kind == "loans" else (views, views.c.viewed_at)
    with engine.connect() as connection:
        stored = connection.execute(
            select(column).where(table.c.file_id == report.file_id)
        ).scalars()
        assert sorted(stored) == sorted(t for t in times if t >= cutoff)
    assert (report.rows_read, report.rows_quarantined) == (len(times), 0)
    assert report.rows_accepted == len(times) - len(old)
    assert report.rows_past_retention == len(old)
    assert report.newest_past_retention == (max(old) if old else None)
    shown = [line for line in report.summary_lines() if "retention window" in line]
    assert shown == (
        [
            f"  older than the retention window of {days} days (RECSYS_RETENTION_DAYS), not "
            f"stored: {len(old)}; the newest of them is from "
            f"{time.strftime('%Y-%m-%d', time.gmtime(max(old)))}"
        ]
        if old
        else []
    )


def test_an_over_long_id_is_quarantined_with_its_reason_and_a_short_detail(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    huge = "B" * 2_000_000
    lines = [
        *GOOD,
        f"CARD-5005,{huge},2024-01-05,loan,L1\n",
        f"CARD-6006,B1,2024-01-05,,{'L' * 129}\n",
    ]
    path = _write(tmp_path / "loans.csv", lines)

    report = ingest_file(engine, settings, kind="loans", path=path, max_bad_share=0.5)

    assert (report.rows_accepted, report.rows_quarantined) == (4, 2)
    assert report.reasons == {"id_too_long": 2}
    assert "  id_too_long: 2" in report.summary_lines()
    with engine.connect() as connection:
        stored = connection.execute(select(func.max(func.length(loans.c.book_id)))).scalar()
        details = connection.execute(select(quarantine.c.detail)).scalars().all()
    assert stored <= 128
    assert max(len(detail) for detail in details) < 1_000
    (bad_rows,) = settings.quarantine_dir.glob("*.bad.csv")
    assert bad_rows.stat().st_size < 2_000
