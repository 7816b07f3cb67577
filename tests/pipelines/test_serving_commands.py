"""`recsys recommend`, `recsys similar`, `recsys publish` and `recsys rollback`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from pipelines.cli import main
from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings, get_settings
from recsys.consent import set_consent
from recsys.data.dataset import Dataset
from recsys.db.tables import loans as loans_table
from recsys.models.registry import build_model
from recsys.privacy import Pseudonymizer

KEY = "serving-commands-key-" + "7" * 32
BOOKS = [f"b{i}" for i in range(8)]


def raw_loans() -> pd.DataFrame:
    rows = [
        (f"r{r}", BOOKS[(r + j) % 8], 1_700_000_000 + 3600 * (r * 3 + j))
        for r in range(12)
        for j in range(3)
    ]
    return pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP])


@pytest.fixture
def published(
    db_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[list[str]]:
    """Two saved runs of a model of the loans in the database; the first one published."""
    loans = raw_loans()
    loans[C.READER_ID] = Pseudonymizer(KEY.encode()).pseudonymize_series(loans[C.READER_ID])
    with engine.begin() as connection:
        connection.execute(
            insert(loans_table),
            [
                {"reader_id": r, "book_id": b, "borrowed_at": int(t), "event": "loan"}
                for r, b, t in loans.itertuples(index=False)
            ],
        )
    catalog = pd.DataFrame(  # as MARC exports hold them: ISBD punctuation, life dates
        {
            C.BOOK_ID: BOOKS,
            C.TITLE: [f"T{b} : a tale /" for b in BOOKS],
            C.AUTHOR: [f"A{b}, 1950-...." for b in BOOKS],
        }
    )
    holdings = pd.DataFrame({C.BOOK_ID: BOOKS, C.LIBRARY_ID: "CEN"})
    interactions = loans.assign(
        **{C.TIMESTAMP: pd.to_datetime(loans[C.TIMESTAMP], unit="s", utc=True)}
    )
    model = build_model("hybrid", factors=4, iterations=2, min_pair_support=2, random_state=3)
    model.fit(Dataset.from_interactions(interactions, catalog, holdings))
    runs = []
    for _ in range(2):
        run_id = artifacts.new_run_id()
        artifacts.save_bundle(
            db_settings.models_dir,
            run_id,
            model,
            catalog=catalog,
            holdings=holdings,
            manifest_extra={},
        )
        runs.append(run_id)
    runs.sort()
    artifacts.publish(db_settings.models_dir, runs[0])
    for name, value in (
        ("DATABASE_URL", db_settings.resolved_database_url),
        ("MODELS_DIR", str(db_settings.models_dir)),
        ("DATA_DIR", str(db_settings.data_dir)),
        ("PSEUDONYM_KEY", KEY),
        ("API_KEYS_FILE", str(tmp_path / "absent")),
    ):
        monkeypatch.setenv(f"RECSYS_{name}", value)
    get_settings.cache_clear()
    yield runs
    get_settings.cache_clear()


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
    assert list(frame.columns) == ["reader_id", "rank", "book_id", "score", "title", "author"]
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
    assert lines[0] == "book_id,rank,similar_book_id,score,title,author"
    assert [line.split(",")[:2] for line in lines[1:]] == [["b2", "1"], ["b2", "2"]]
    for line in lines[1:]:
        similar = line.split(",")[2]
        assert line.endswith(f",T{similar} : a tale,A{similar}")
    assert "1 of 2 books known" in captured.err


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
