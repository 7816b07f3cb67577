"""`recsys recommend`, `recsys similar`, `recsys publish` and `recsys rollback`."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from pipelines.cli import main
from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.privacy import Pseudonymizer

from .conftest import FORMULA_BOOKS, KEY, raw_loans


def test_recommend_writes_raw_ids_back(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readers = tmp_path / "readers.txt"
    readers.write_text("r1\n\nr5\nnot-a-reader\nr1\n")
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "recommend",
                "--readers",
                str(readers),
                "--k",
                "3",
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    frame = pd.read_csv(out, dtype={"reader_id": str, "book_id": str})
    assert list(frame.columns) == [
        "reader_id",
        "rank",
        "book_id",
        "score",
        "title",
        "author",
        "reason",
    ]
    assert (frame["title"] == "T" + frame["book_id"] + " : a tale").all()
    assert (frame["author"] == "A" + frame["book_id"]).all()
    assert frame["reader_id"].drop_duplicates().tolist() == ["r1", "r5", "not-a-reader"]
    assert frame.groupby("reader_id")["rank"].apply(list).tolist() == [[1, 2, 3]] * 3
    borrowed = raw_loans().groupby(C.READER_ID)[C.BOOK_ID].apply(set)
    for reader in ("r1", "r5"):
        assert set(frame.loc[frame.reader_id == reader, "book_id"]).isdisjoint(borrowed[reader])
    assert f"3 readers, 9 rows (model {published[0]})" in capsys.readouterr().err


def test_recommend_gives_an_objecting_reader_the_non_personal_list(
    published: list[str], engine: Engine, tmp_path: Path
) -> None:
    pseudonym = Pseudonymizer(KEY.encode()).pseudonymize("r1")
    set_consent(engine, reader_id=pseudonym, consented=False, at=1_800_000_000)
    readers = tmp_path / "readers.txt"
    readers.write_text("r1\nr5\nnot-a-reader\n")
    out = tmp_path / "out.csv"
    assert main(["recommend", "--readers", str(readers), "--k", "3", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"reader_id": str, "book_id": str})
    lists = frame.groupby("reader_id", sort=False)["book_id"].apply(list)
    assert lists.index.tolist() == ["r1", "r5", "not-a-reader"]
    assert lists["r1"] == lists["not-a-reader"], "an objection must stop personalization"
    assert lists["r5"] != lists["not-a-reader"]


def test_similar_writes_neighbours_to_stdout(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "books.txt"
    books.write_text("b2\nnope\n")
    assert main(["similar", "--books", str(books), "--k", "2", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0] == "book_id,rank,similar_book_id,score,title,author,reason"
    assert [line.split(",")[:2] for line in lines[1:]] == [["b2", "1"], ["b2", "2"]]
    for line in lines[1:]:
        similar, title, author = (line.split(",")[i] for i in (2, 4, 5))
        assert (title, author) == (f"T{similar} : a tale", f"A{similar}")  # clean for readers
    assert "1 of 2 books known" in captured.err


@pytest.mark.parametrize("published", [FORMULA_BOOKS], indirect=True)
@pytest.mark.parametrize("command", ["similar", "recommend"])
def test_batch_csv_neutralizes_cells_that_start_like_a_formula(
    published: list[str], tmp_path: Path, command: str
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(FORMULA_BOOKS if command == "similar" else ["r1", "=1+2", "r5"]))
    out = tmp_path / "out.csv"
    flag = "--books" if command == "similar" else "--readers"
    assert main([command, flag, str(ids), "--k", "7", "--format", "csv", "--out", str(out)]) == 0
    with out.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    text_columns = [i for i, name in enumerate(header) if name.endswith("_id")]
    cells = [row[i] for row in rows for i in text_columns]
    assert len(rows) >= 14 and cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    quoted = {cell for cell in cells if cell.startswith("'")}
    expected = {"'" + book for book in FORMULA_BOOKS[:6]}
    if command == "recommend":
        expected.add("'=1+2")
    assert quoted <= expected and len(quoted) >= 4
    assert {cell for cell in cells if not cell.startswith("'")} <= {"b6", "b7", "r1", "r5"}
    [float(row[header.index("score")]) for row in rows]  # scores stay numbers, negative ones too


def test_an_unwritable_output_is_one_error_line(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "books.txt"
    books.write_text("b2\n")
    assert main(["similar", "--books", str(books), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"recsys similar: error: {tmp_path}: Is a directory"]


def test_bad_k_is_a_usage_error(published: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["similar", "--books", str(tmp_path / "x"), "--k", "0"])
    assert exit_info.value.code == 2


def test_publish_and_rollback(
    published: list[str], db_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = published
    assert main(["publish", second]) == 0
    assert artifacts.current_run_id(db_settings.models_dir) == second
    assert f"published {second} (previous: {first})" in capsys.readouterr().out
    assert main(["rollback"]) == 0
    assert artifacts.current_run_id(db_settings.models_dir) == first
    assert main(["publish", "20990101T000000Z-beef"]) == 1
    assert "run 20990101T000000Z-beef does not exist" in capsys.readouterr().err
