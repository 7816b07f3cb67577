"""`recsys evaluate` on a tiny SQLite store: prints the comparison and writes the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert

from pipelines.cli import main
from recsys.config import Settings, get_settings
from recsys.data.dataset import Dataset
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.db.tables import catalog, loans


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, library: Dataset) -> Iterator[Path]:
    """A migrated SQLite store holding the test library's loans and catalog."""
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("RECSYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(Settings(_env_file=None, data_dir=tmp_path / "data"))
    upgrade(engine)
    frame = library.interactions.loc[library.interactions["event"] == "loan"]
    rows = [
        {
            "reader_id": r,
            "book_id": b,
            "borrowed_at": int(t.timestamp()),
            "event": "loan",
            "library_id": lib,
        }
        for r, b, t, lib in zip(
            frame["reader_id"],
            frame["book_id"],
            frame["timestamp"],
            frame["library_id"],
            strict=True,
        )
    ]
    with engine.begin() as connection:
        connection.execute(insert(loans).prefix_with("OR IGNORE"), rows)
        connection.execute(insert(catalog), library.catalog.to_dict(orient="records"))
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def test_evaluate_prints_table_and_writes_report(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = store / "report"
    code = main(
        ["evaluate", "--models", "knn_bm25", "--k", "5", "--test-share", "0.2", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    for model in ("knn_bm25", "popularity", "als_default"):
        assert model in printed
    assert "ndcg@5" in printed
    document = json.loads((out / "metrics.json").read_text())
    assert set(document["models"]) == {"knn_bm25", "popularity", "als_default"}
    assert document["split"]["kind"] == "temporal"
    assert document["models"]["knn_bm25"]["params"]["similarity"] == "bm25"
    assert (out / "report.md").exists() and (out / "exposure.png").exists()


def test_evaluate_rejects_unknown_model(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--models", "oracle"]) == 1
    assert "--models has unknown names ['oracle']" in capsys.readouterr().err


def test_evaluate_rejects_bad_test_share(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--models", "popularity", "--test-share", "2"]) == 1
    assert "test_share must be strictly between 0 and 1; got 2.0" in capsys.readouterr().err


def test_evaluate_on_an_empty_store_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RECSYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    upgrade(make_engine(Settings(_env_file=None, data_dir=tmp_path / "data")))
    try:
        assert main(["evaluate", "--models", "popularity"]) == 1
    finally:
        get_settings.cache_clear()
    assert "the store holds no loans yet" in capsys.readouterr().err


def test_evaluate_book_lists_scores_pages_beside_the_baselines(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = store / "pages"
    code = main(["evaluate", "--book-lists", "--cuts", "4", "--k", "5", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    for method in ("hybrid (served list)", "co-borrowing, no threshold", "catalog only"):
        assert method in printed
    assert "page / best k-rule baseline" in printed and "target >= 1.25" in printed
    figures = pd.read_csv(out / "book_lists.csv")
    assert set(figures["role"]) == {"development", "confirmation"}
    assert figures["page"].between(0, 1).all()


def test_evaluate_book_lists_refuses_more_cuts_than_the_loans_allow(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--book-lists", "--cuts", "5000"]) == 1
    assert "--book-lists: rolling_cuts needs at least 10000 loan events" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_rolling_protocol_prints_each_cut_and_the_lead(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = store / "rolling"
    code = main(
        ["evaluate", "--protocol", "rolling", "--search-seconds", "0.01", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.count("[development]") == 2 and printed.count("[confirmation]") == 2
    assert "default / best baseline" in printed
    document = json.loads((out / "rolling.json").read_text())
    assert [cut["role"] for cut in document["cuts"]] == [
        "development",
        "development",
        "confirmation",
        "confirmation",
    ]
    models = set(document["cuts"][0]["models"])
    assert {"default", "als_tuned", "knn_cosine", "knn_bm25", "ease", "rp3beta"} <= models
    assert set(document["lead"]["per_cut"]) == {cut["name"] for cut in document["cuts"]}


def test_evaluate_rolling_refuses_models_and_too_few_cuts(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--protocol", "rolling", "--models", "knn"]) == 1
    assert "--models applies to --protocol holdout" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", "--protocol", "rolling", "--cuts", "3"])
    assert stopped.value.code == 2
    assert "must be at least 4; got 3" in capsys.readouterr().err
