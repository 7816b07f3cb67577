"""`recsys curation`, `recsys reading-list` and `recsys recommend-group`: each rule kind made on
the command line shows in the batch lists, with its audit trail; bulk import is all or nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main
from recsys.config import Settings
from recsys.curation import manage
from recsys.db.engine import make_engine

from .conftest import BOOKS, raw_loans

NEW = BOOKS[-1]


def batch(tmp_path: Path, command: str, ids: list[str], k: int = 3) -> pd.DataFrame:
    """The CSV that `recsys recommend` or `recsys similar` writes for `ids`."""
    source, out = tmp_path / f"{command}.txt", tmp_path / f"{command}.csv"
    source.write_text("\n".join(ids) + "\n")
    option = "--readers" if command == "recommend" else "--books"
    assert main([command, option, str(source), "--k", str(k), "--out", str(out)]) == 0
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def readers_list(tmp_path: Path, reader: str = "r1", k: int = 3) -> list[str]:
    return batch(tmp_path, "recommend", [reader], k)["book_id"].tolist()


def cli(*args: str) -> int:
    return main(["curation", *args])


def test_each_rule_kind_shows_in_the_batch_lists(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    borrowed = set(raw_loans().query("reader_id == 'r1'")["book_id"])
    before = readers_list(tmp_path)
    pick = next(b for b in BOOKS if b not in borrowed and b not in before)
    assert cli("add", "pin", pick, "--position", "1", "--reason", "display") == 0
    shown = batch(tmp_path, "recommend", ["r1"])
    assert (shown.loc[0, "book_id"], shown.loc[0, "reason"]) == (pick, "librarian's pick")
    rule_id = capsys.readouterr().out.split()[1]
    assert cli("remove", rule_id, "--reason", "display over") == 0
    assert readers_list(tmp_path) == before

    assert cli("add", "suppress", before[0], "--reason", "withdrawn") == 0
    assert before[0] not in readers_list(tmp_path)
    similar = batch(tmp_path, "similar", BOOKS)
    assert before[0] not in set(similar["similar_book_id"])

    assert cli("add", "staff_pick", pick, "--position", "2", "--label", "Book of the month",
               "--reason", "club") == 0  # fmt: skip
    listed = batch(tmp_path, "recommend", ["r1"])
    assert listed.loc[1, "book_id"] == pick
    assert listed.loc[1, "reason"] == "staff pick: Book of the month"


def test_bury_boost_and_never_pair_on_the_command_line(
    published: list[str], tmp_path: Path
) -> None:
    before = batch(tmp_path, "similar", [BOOKS[0]], k=3)["similar_book_id"].tolist()
    assert cli("add", "bury", before[0], "--factor", "0.001", "--reason", "x") == 0
    after = batch(tmp_path, "similar", [BOOKS[0]], k=3)["similar_book_id"].tolist()
    assert after[0] != before[0]
    assert cli("add", "boost", after[-1], "--factor", "1000", "--reason", "x") == 0
    assert batch(tmp_path, "similar", [BOOKS[0]], k=3)["similar_book_id"].iloc[0] == after[-1]
    assert cli("add", "never_pair", after[-1], "--anchor", BOOKS[0], "--reason", "sensitive") == 0
    assert after[-1] not in batch(tmp_path, "similar", [BOOKS[0]], k=3)["similar_book_id"].tolist()


def test_list_export_and_import_round_trip(
    published: list[str], db_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("add", "suppress", BOOKS[2], "--reason", "damaged", "--by", "anna") == 0
    assert cli("add", "boost", BOOKS[3], "--factor", "2", "--library", "CEN",
               "--expires", "2099-01-01", "--reason", "new shelf", "--by", "ben") == 0  # fmt: skip
    capsys.readouterr()
    assert cli("list") == 0
    listing = capsys.readouterr().out
    assert "suppress b2 everywhere  (by anna: damaged)" in listing
    assert "boost b3 x2 for CEN until 2099-01-01" in listing
    exported = tmp_path / "rules.csv"
    assert cli("export", "--out", str(exported)) == 0
    frame = pd.read_csv(exported, dtype=str, keep_default_na=False)
    assert frame["kind"].tolist() == ["suppress", "boost"]
    engine = make_engine(db_settings)
    before = len(manage.rules(engine))
    assert cli("import", str(exported), "--by", "bulk") == 0
    assert len(manage.rules(engine)) == before + 2
    assert {r.created_by for r in manage.rules(engine)} == {"anna", "ben", "bulk"}


def test_a_bad_line_in_an_import_stores_nothing(
    published: list[str], db_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.csv"
    rules.write_text("kind,book_id,factor,reason\nsuppress,b1,,damaged\nbury,b2,3,wrong factor\n")
    assert cli("import", str(rules)) == 1
    assert "line 3: factor must be a number between 0 and 1 for a bury" in capsys.readouterr().err
    assert manage.rules(make_engine(db_settings)) == []


def test_removing_an_unknown_rule_fails_with_a_message(
    published: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("remove", "999", "--reason", "x") == 1
    assert "rule_id 999 is not a rule in force" in capsys.readouterr().err


def test_reading_lists_on_the_command_line(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "books.csv"
    books.write_text(f"book_id,note\n{BOOKS[0]},start here\n{BOOKS[1]},\n")
    publish = ["reading-list", "publish", "spring-reads", "--title", "Spring reads"]
    assert main([*publish, "--books", str(books)]) == 0
    capsys.readouterr()
    assert main(["reading-list", "list"]) == 0
    assert "spring-reads  'Spring reads'  2 books  (everyone)" in capsys.readouterr().out
    assert main(["reading-list", "withdraw", "spring-reads"]) == 0
    assert main(["reading-list", "withdraw", "spring-reads"]) == 1
    bad = ["reading-list", "publish", "Bad Id", "--title", "x", "--books", str(books)]
    assert main(bad) == 1
    assert "list_id must be 1 to 64 lowercase letters" in capsys.readouterr().err


def test_book_club_suggestions_on_the_command_line(
    published: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = tmp_path / "members.txt"
    members.write_text("r1\nr2\nnot-a-reader\n")
    out = tmp_path / "club.csv"
    assert main(["recommend-group", "--readers", str(members), "--k", "2", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == [
        "rank",
        "book_id",
        "score",
        "title",
        "author",
        "reason",
        "availability",
    ]
    loans = raw_loans()
    read = set(loans.loc[loans["reader_id"].isin(["r1", "r2"]), "book_id"])
    assert len(frame) == 2 and not read & set(frame["book_id"])
    assert "for 2 members' histories" in capsys.readouterr().err
    assert main(["recommend-group", "--k", "2"]) == 1
