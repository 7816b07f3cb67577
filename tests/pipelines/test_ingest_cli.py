"""`recsys ingest` and `recsys db-upgrade`, in-process and once as a real subprocess."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pipelines.cli import main
from recsys.config import Settings, get_settings
from recsys.db import queries

HEADER = "reader_id,book_id,borrowed_at\n"
RECENT = [(date.today() - timedelta(days=days)).isoformat() for days in (3, 2, 1)]
ROWS = "".join(
    f"{row},{day}\n"
    for row, day in zip(["CARD-1001,B1", "CARD-2002,B2", "CARD-2002,B3"], RECENT, strict=True)
)
BAD_ROWS = f",B1,{RECENT[0]}\nCARD-3003,B2,someday\n"


@pytest.fixture
def cli_env(
    db_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment making the CLI use the test database, data folder and key."""
    env = {
        "RECSYS_DATABASE_URL": str(db_settings.database_url),
        "RECSYS_DATA_DIR": str(db_settings.data_dir),
        "RECSYS_MODELS_DIR": str(db_settings.models_dir),
        "RECSYS_PSEUDONYM_KEY": db_settings.pseudonym_key.get_secret_value(),
    }
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def _file(tmp_path: Path, text: str, name: str = "loans.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_ingest_prints_the_summary(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEADER + ROWS + BAD_ROWS)
    assert main(["ingest", "loans", path, "--max-bad-share", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "loans loans.csv: read 5, accepted 3, quarantined 2 (40.0%)" in out
    assert "  bad_timestamp: 1" in out and "  missing_reader_id: 1" in out
    assert queries.count_loans(engine) == 3
    assert main(["ingest", "loans", path]) == 0
    assert "already ingested (same content), skipped" in capsys.readouterr().out


def test_too_many_bad_rows_exit_1_with_the_counts(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEADER + ROWS + BAD_ROWS)
    assert main(["ingest", "loans", path]) == 1
    err = capsys.readouterr().err
    assert "recsys ingest: error: loans.csv: 2 of 5 rows are bad" in err
    assert "(40.0% > max_bad_share 5.0%); nothing was stored" in err
    assert queries.count_loans(engine) == 0


def test_missing_column_and_column_mapping(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, f"patron,item,date\nCARD-1,B1,{RECENT[0]}\n", name="ils.csv")
    assert main(["ingest", "loans", path]) == 1
    assert "ils.csv: missing required column 'reader_id' for loans" in capsys.readouterr().err
    mapping = "reader_id=patron,book_id=item,borrowed_at=date"
    assert main(["ingest", "loans", path, "--columns", mapping]) == 0
    assert queries.count_loans(engine) == 1


def test_ingest_says_how_many_rows_are_older_than_the_retention_window(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = [(date.today() - timedelta(days=days)).isoformat() for days in (900, 800)]
    text = HEADER + f"CARD-1,B1,{old[0]}\nCARD-1,B2,{old[1]}\nCARD-2,B1,{RECENT[0]}\n"
    assert main(["ingest", "loans", _file(tmp_path, text)]) == 0
    out = capsys.readouterr().out
    assert "loans loans.csv: read 3, accepted 1, quarantined 0 (0.0%)" in out
    assert (
        "  older than the retention window of 730 days (RECSYS_RETENTION_DAYS), not stored: 2; "
        f"the newest of them is from {old[1]}"
    ) in out
    assert queries.count_loans(engine) == 1


def test_max_bad_share_must_be_a_share(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "loans", _file(tmp_path, HEADER), "--max-bad-share", "5"])
    assert exit_info.value.code == 2
    assert "must be between 0 and 1; got 5.0" in capsys.readouterr().err


def test_db_upgrade(
    cli_env: dict[str, str], engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db-upgrade"]) == 0
    assert "is at the newest revision" in capsys.readouterr().out
    queries.ping(engine)


@pytest.mark.slow
def test_ingest_runs_as_a_real_process_and_logs_no_reader_id(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    path = _file(tmp_path, HEADER + ROWS)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "ingest", "loans", path],
        env={**os.environ, **cli_env, "OPENBLAS_NUM_THREADS": "1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "read 3, accepted 3, quarantined 0" in result.stdout
    assert "loans.csv: 3 rows read" in result.stderr  # plain log lines: stderr is not a TTY
    assert "CARD-" not in result.stdout + result.stderr
    assert queries.count_loans(engine) == 3


def _truncated_gzip(path: Path) -> None:
    """A gzip export cut in half: its first 64 KiB decompress, then the stream ends early."""
    rows = [
        f"CARD-{i * 7919 % 100_003},B{i % 997},2026-11-{1 + i % 28:02d}\n" for i in range(40_000)
    ]
    packed = gzip.compress((HEADER + "".join(rows)).encode())
    path.write_bytes(packed[: len(packed) // 2])


def _unreadable(path: Path) -> None:
    path.write_text(HEADER + ROWS)
    path.chmod(0)


BAD_FILES = [
    pytest.param(
        "loans.csv.gz",
        _truncated_gzip,
        r"loans\.csv\.gz: the compressed file is truncated or corrupt \(Compressed "
        r"file ended before the end-of-stream marker was reached\); export it again$",
        id="truncated gzip",
    ),
    pytest.param(
        "loans.csv.gz",
        lambda path: path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4),
        r"loans\.csv\.gz: the compressed file is truncated or corrupt \(Error -3 while "
        r"decompressing data: invalid block type\); export it again$",
        id="damaged gzip",
    ),
    pytest.param("absent.csv", lambda path: None, r"absent\.csv: no such file$", id="missing file"),
    pytest.param(
        "folder.csv",
        lambda path: path.mkdir(),
        r"folder\.csv: not a file \(a directory or a device\); give an export file$",
        id="directory",
    ),
    pytest.param(
        "locked.csv",
        _unreadable,
        r"locked\.csv: cannot be read \(Permission denied\)$",
        id="unreadable file",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode"),
    ),
    pytest.param(
        "memory.csv",
        lambda path: path.symlink_to("/proc/self/mem"),  # a file even root cannot read from 0
        r"memory\.csv: cannot be read \(Input/output error\)$",
        id="file that fails to read",
        marks=pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="Linux only"),
    ),
    pytest.param(
        "ils.csv",
        lambda path: path.write_text("patron,item\nC1,B1\n"),
        r"ils\.csv: missing required column 'reader_id' for loans; found columns: "
        r"\['patron', 'item'\]",
        id="wrong columns",
    ),
    pytest.param(
        "empty.csv",
        lambda path: path.write_text(""),
        r"empty\.csv: empty file; expected a CSV header with columns "
        r"\['reader_id', 'book_id', 'borrowed_at'\]$",
        id="empty file",
    ),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_FILES)
def test_a_bad_file_ends_in_one_error_line_and_exit_1(
    cli_env: dict[str, str],
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    make: Callable[[Path], object],
    message: str,
) -> None:
    path = tmp_path / name
    make(path)
    assert main(["ingest", "loans", str(path)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("recsys ingest: error: ")]
    assert len(errors) == 1, err
    assert re.search(message, errors[0].removeprefix("recsys ingest: error: ")), errors[0]
    assert "Traceback" not in err
    assert queries.count_loans(engine) == 0


KOHA_ITEMS = "itemnumber,biblionumber,homebranch\n9001,101,CPL\n9002,102,CPL\n"
KOHA_STATISTICS = (
    "datetime,branch,type,itemnumber,borrowernumber\n"
    "2025-03-01 10:00:00,CPL,issue,9001,51\n"
    "2025-03-09 10:00:00,CPL,return,9001,51\n"
    "2025-03-09 10:05:00,CPL,localuse,9002,\n"
    "2025-03-10 11:00:00,CPL,issue,9002,52\n"
)


def test_preset_ingest_of_a_system_export_says_what_was_set_aside(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = _file(tmp_path, KOHA_ITEMS, name="items.csv")
    assert main(["ingest", "items", items, "--preset", "koha-statistics"]) == 0
    statistics = _file(tmp_path, KOHA_STATISTICS, name="statistics.csv")
    assert main(["ingest", "loans", statistics, "--preset", "koha-statistics"]) == 0
    out = capsys.readouterr().out
    assert "items items.csv: read 2, accepted 2, quarantined 0" in out
    assert "loans statistics.csv: read 2, accepted 2, quarantined 0" in out
    assert "  set aside, not loan events, never stored: localuse 1, return 1" in out
    assert queries.count_loans(engine) == 2


def test_the_preset_setting_applies_unless_the_command_says_none(
    cli_env: dict[str, str],
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECSYS_LOAN_PRESET", "koha-statistics")
    get_settings.cache_clear()
    assert main(["ingest", "items", _file(tmp_path, KOHA_ITEMS, name="items.csv")]) == 0
    assert main(["ingest", "loans", _file(tmp_path, KOHA_STATISTICS, name="stats.csv")]) == 0
    assert main(["ingest", "loans", _file(tmp_path, HEADER + ROWS), "--preset", "none"]) == 0
    assert queries.count_loans(engine) == 5
    other = _file(tmp_path, HEADER + "CARD-9009,B9,2024-02-01\n", name="more.csv")
    assert main(["ingest", "loans", other]) == 1
    err = capsys.readouterr().err
    assert err.startswith("recsys ingest: error: more.csv: the koha-statistics preset needs")


def test_unknown_preset_is_one_line_listing_the_presets(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, HEADER + ROWS)
    assert main(["ingest", "loans", path, "--preset", "sirsi"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "recsys ingest: error: --preset must be one of ['alma-fulfillment', 'evergreen-circ', "
        "'folio-loans', 'koha-issues', 'koha-pseudonymized', 'koha-statistics'] (or 'none'); "
        "got 'sirsi'\n"
    )


def test_id_field_reads_koha_biblionumbers_from_999c(
    cli_env: dict[str, str], engine: Engine, koha_biblios: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "catalog", str(koha_biblios), "--id-field", "999c"]) == 1
    err = capsys.readouterr().err  # the record without 999 $c has no id
    assert "biblios.mrc: 1 of 2 rows are bad" in err and "By reason: missing_book_id 1" in err
    assert (
        main(
            ["ingest", "catalog", str(koha_biblios), "--id-field", "999c", "--max-bad-share", "0.5"]
        )
        == 0
    )
    assert queries.load_catalog(engine)["book_id"].tolist() == ["4711"]
