"""`recsys works ...`: the report, the librarians' corrections, and one-line errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from pipelines.cli import main
from recsys.config import Settings
from recsys.db import queries

Cli = Callable[[list[str]], int]

CATALOG = (
    "book_id,title,author,isbn\n"
    '1,Oeuvres complètes /,"Breton, André, 1896-1966",9782070111381\n'
    '2,Oeuvres complètes,"Breton, André",9782070113767\n'
    "3,Italie /,,9782016256336\n"
    "4,Italie,,2016256338\n"
    "5,Italie,,\n"
)


@pytest.fixture
def cli(
    db_settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """The CLI on the test database, with a small catalog ingested."""
    monkeypatch.setattr("pipelines.cli.get_settings", lambda: db_settings)
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG, encoding="utf-8")
    assert main(["ingest", "catalog", str(path)]) == 0
    return main


def _work(engine: Engine, book_id: str) -> object:
    return queries.load_catalog(engine).set_index("book_id").at[book_id, "work_id"]


def test_report_prints_the_largest_and_the_borderline_works(
    cli: Cli,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert cli(["works", "report", "--top", "5", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"works of several records +2\n", out)
    assert "one work, perhaps several volumes: 1" in out and "collective title" in out
    assert "same title, author differs or is missing: 1" in out
    assert " / " not in out and "1896" not in out  # titles and authors shown clean
    largest = pd.read_csv(tmp_path / "out" / "works-largest.csv", dtype=str)
    assert sorted(largest["book_ids"]) == ["1 2", "3 4"]


def test_librarians_split_show_list_and_unset(
    cli: Cli,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _work(engine, "1") == _work(engine, "2")
    assert cli(["works", "split", "2", "--note", "volume 2"]) == 0
    assert _work(engine, "1") != _work(engine, "2")
    assert cli(["works", "overrides"]) == 0
    listed = capsys.readouterr().out
    assert "split" in listed and "volume 2" in listed and re.search(r"\d{4}-\d\d-\d\dT", listed)
    assert cli(["works", "merge", "3", "5"]) == 0
    assert _work(engine, "3") == _work(engine, "4") == _work(engine, "5")
    assert cli(["works", "show", "5"]) == 0
    assert capsys.readouterr().out.count("Italie") >= 3
    assert cli(["works", "unset", "2"]) == 0
    assert "1 override(s) removed" in capsys.readouterr().out
    assert _work(engine, "1") == _work(engine, "2")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["works", "merge", "1"], "book_ids must name at least two records to merge"),
        (["works", "show", "nope"], "book_id must be a record of the stored catalog; got 'nope'"),
        (["works", "split", "nope"], "unknown: nope"),
    ],
)
def test_errors_are_one_line_and_a_failure_exit(
    cli: Cli,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert cli(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("recsys works: error: ") and message in err[-1]


def test_a_non_positive_top_is_a_usage_error(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["works", "report", "--top", "0"])
    assert exit_info.value.code == 2
    assert "--top must be a positive number of rows; got 0" in capsys.readouterr().err
