"""Readers' voice through the command line: a feedback export ingested (each kind, and taking one
back), reader categories in a loans export, `recsys recommend` honouring feedback, and
`recsys reader-export` for a data-access request."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from pipelines.cli import main
from recsys.columns import Columns as C
from recsys.config import get_settings
from recsys.consent import load_training_dataset, may_personalize
from recsys.db.reader_state import consent_and_loans
from recsys.privacy import Pseudonymizer
from recsys.reader_data import EXPORT_COLUMNS

from .conftest import KEY

HEADER = "reader_id,book_id,kind,given_at,withdrawn\n"


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pseudonym(raw: str) -> str:
    return Pseudonymizer(KEY.encode()).pseudonymize(raw)


def _ingest(tmp_path: Path, name: str, text: str, *options: str) -> int:
    path = tmp_path / name
    path.write_text(text)
    return main(["ingest", "feedback", str(path), *options])


def test_a_feedback_export_is_ingested_and_shapes_the_next_batch_list(
    published: list[str],
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        f"r1,b7,already_read,{_days_ago(5)},",
        f"r1,b6,Liked,{_days_ago(4)},no",
        f"r1,b4,not interested,{_days_ago(3)},",
        f"r1,b0,liked,{_days_ago(3)},",
        f"r1,b0,liked,{_days_ago(2)},yes",
        f"r1,b5,loved,{_days_ago(2)},",
    ]
    text = HEADER + "\n".join(rows) + "\n"
    assert _ingest(tmp_path, "feedback.csv", text, "--max-bad-share", "0.2") == 0
    captured = capsys.readouterr()
    summary = captured.out + captured.err
    assert "feedback feedback.csv: read 6, accepted 5, quarantined 1" in summary
    assert "unknown_feedback: 1" in summary
    assert "r1" not in summary and _pseudonym("r1") not in summary

    history = consent_and_loans(engine, get_settings(), reader_id=_pseudonym("r1"))
    assert history is not None
    fed = dict(zip(history.book_ids, history.events, strict=True))
    assert fed["b7"] == "already_read" and fed["b6"] == "liked" and "b0" not in fed
    assert history.withheld == ("b4",)

    readers = tmp_path / "readers.txt"
    readers.write_text("r1\n")
    out = tmp_path / "lists.csv"
    assert main(["recommend", "--readers", str(readers), "--k", "5", "--out", str(out)]) == 0
    listed = set(pd.read_csv(out, dtype=str)["book_id"])
    assert listed and listed <= {"b0", "b5"}  # r1 borrowed b1-b3, read b7, liked b6, not b4


def test_an_older_export_never_undoes_newer_feedback(
    published: list[str], engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = f"r2,b0,not_interested,{_days_ago(1)},\n"
    older = f"r2,b0,not_interested,{_days_ago(9)},yes\nr2,b0,liked,{_days_ago(8)},\n"
    assert _ingest(tmp_path, "new.csv", HEADER + newer) == 0
    assert _ingest(tmp_path, "old.csv", HEADER + older) == 0
    assert "older than the feedback stored, not applied: 2" in capsys.readouterr().out
    history = consent_and_loans(engine, get_settings(), reader_id=_pseudonym("r2"))
    assert history is not None and history.withheld == ("b0",) and "b0" not in history.book_ids
    assert (
        _ingest(tmp_path, "later.csv", HEADER + f"r2,b0,not_interested,{_days_ago(0)},yes\n") == 0
    )
    history = consent_and_loans(engine, get_settings(), reader_id=_pseudonym("r2"))
    assert history is not None and history.withheld == ()


def test_reader_categories_come_with_loans_and_map_the_librarys_codes(
    published: list[str],
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECSYS_READER_CATEGORIES", "JUV=child,ADU=adult")
    get_settings.cache_clear()
    export = tmp_path / "loans.csv"
    export.write_text(
        "reader_id,book_id,borrowed_at,reader_category\n"
        f"kid,b1,{_days_ago(3)},juv\n"
        f"grown,b1,{_days_ago(3)},ADU\n"
        f"who,b1,{_days_ago(3)},XYZ\n"
    )
    assert main(["ingest", "loans", str(export)]) == 1  # one bad row in three is too many
    assert "unknown_reader_category 1" in capsys.readouterr().err
    assert main(["ingest", "loans", str(export), "--max-bad-share", "0.5"]) == 0
    settings = get_settings()
    assert not may_personalize(engine, settings, reader_id=_pseudonym("kid"))
    assert may_personalize(engine, settings, reader_id=_pseudonym("grown"))
    assert may_personalize(engine, settings, reader_id=_pseudonym("who"))  # category unknown
    for separate in (True, False):  # a minor without consent never trains, separated or not
        trained = load_training_dataset(
            engine, settings.model_copy(update={"separate_minors": separate})
        ).interactions[C.READER_ID]
        assert _pseudonym("kid") not in set(trained)
        assert _pseudonym("grown") in set(trained)


def test_reader_export_writes_everything_held_and_no_reader_id(
    published: list[str],
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _ingest(tmp_path, "feedback.csv", HEADER + f"r3,b0,liked,{_days_ago(1)},\n")
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("r3\n"))

    assert main(["reader-export", "-", "--format", "csv"]) == 0

    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    records = [row["record"] for row in rows]
    assert records.count("loan") == 3 and records.count("feedback") == 1
    assert records.count("model") == 3  # the published model's training row
    assert "r3" not in {value for row in rows for value in row.values()}
    assert _pseudonym("r3") not in out

    target = tmp_path / "r3.json"
    assert main(["reader-export", "r3", "--out", str(target)]) == 0
    document = json.loads(target.read_text())
    assert document["model"] == {
        "version": published[0],
        "holds_reader": True,
        "books": document["model"]["books"],
    }
    assert len(document["loans"]) == 3 and document["feedback"][0]["kind"] == "liked"
    assert _pseudonym("r3") not in target.read_text()
