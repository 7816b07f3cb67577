"""Each preset end to end: the system's own exports -> ingest -> a small model -> served lists.

The exports are the tiny two-subject library in each system's layout (`ils_library`); what a
served list must hold is known: a Cooking book's neighbours are the other Cooking books, and a
Cooking reader's two unborrowed Cooking books are their personal list.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from recsys import artifacts
from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import load_training_dataset
from recsys.db.tables import catalog, loans, metadata
from recsys.ingest import IngestReport, ingest_file
from recsys.models.registry import build_model
from recsys.service.app import create_app

from .ils_library import SYSTEMS, System, books_of_subject, borrowed_by
from .ils_library import loans as tiny_loans

READER_KEY = "presets-reader-key-0123456789"
READY_SECONDS = 30.0
#: A Cooking reader (reader 5 borrowed Cooking books 5, 0, 1, 2).
READER = 5
BOOK = 2
RENEWED = sum(1 for loan in tiny_loans() if loan.renewals)

#: What each export holds beside the loans, set aside by the preset and never stored.
SET_ASIDE = {
    "koha-issues": {"anonymized": 10},
    "koha-statistics": {"return": 96, "localuse": 5, "payment": 5},
    "koha-pseudonymized": {"return": 96},
    "folio-loans": {"anonymized": 5},
    "evergreen-circ": {"anonymized": 6},
    "alma-fulfillment": {"anonymized": 8, "in_house_use": 8},
}


def _ingest(engine: Engine, settings: Settings, system: System, folder: Path) -> IngestReport:
    preset = system.preset
    report = ingest_file(
        engine, settings, kind="catalog", path=system.write_catalog(folder), preset=preset
    )
    assert report.rows_accepted == 12, report.summary_lines()
    if system.write_items is not None:
        items = system.write_items(folder)
        assert (
            ingest_file(engine, settings, kind="items", path=items, preset=preset).rows_accepted
            == 24
        )
    return ingest_file(
        engine, settings, kind="loans", path=system.write_loans(folder), preset=preset
    )


def _dump(engine: Engine) -> list[tuple[object, ...]]:
    """Every row of every table of the store."""
    with engine.connect() as connection:
        return [
            row for table in metadata.sorted_tables for row in connection.execute(select(table))
        ]


def _publish(engine: Engine, settings: Settings) -> None:
    dataset = load_training_dataset(engine, settings)
    model = build_model("hybrid", factors=8, iterations=3, min_pair_support=2, random_state=7).fit(
        dataset
    )
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        settings.models_dir,
        run_id,
        model,
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=0,
    )
    artifacts.publish(settings.models_dir, run_id, latest_erasure=0)


def _ready(client: TestClient) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.01)


@pytest.mark.parametrize("preset", sorted(SYSTEMS))
def test_export_to_served_list(
    preset: str, engine: Engine, db_settings: Settings, tmp_path: Path
) -> None:
    system = SYSTEMS[preset]
    settings = db_settings.model_copy(
        update={
            "api_keys": SecretStr(f"{READER_KEY}:reader"),
            "api_keys_file": tmp_path / "no-api-keys",
            "anonymous_reader_ids": "4242",  # the Koha site's AnonymousPatron (README)
        }
    )
    report = _ingest(engine, settings, system, tmp_path)

    assert report.rows_quarantined == 0, report.summary_lines()
    assert report.set_aside == SET_ASIDE[preset]
    with engine.connect() as connection:
        events = dict(
            connection.execute(select(loans.c.event, func.count()).group_by(loans.c.event)).all()
        )
        stored_books = set(connection.execute(select(catalog.c.book_id)).scalars())
        stored_readers = set(connection.execute(select(loans.c.reader_id)).scalars())
    assert events == {Events.LOAN: 96, Events.RENEWAL: RENEWED}
    # only pseudonyms get past the door, and nothing of the borrower (FOLIO exports names)
    assert len(stored_readers) == 24
    assert stored_readers.isdisjoint({system.reader_id(reader) for reader in range(24)})
    assert "Lovelace" not in str(_dump(engine))
    assert stored_books == {system.book_id(book) for book in range(12)}

    _publish(engine, settings)
    with TestClient(create_app(settings)) as client:
        _ready(client)
        similar = client.get(f"/books/{system.book_id(BOOK)}/similar", params={"k": 5}).json()
        assert similar["strategy"] == "collaborative"
        cooking = {system.book_id(book) for book in books_of_subject(0)}
        assert {item["book_id"] for item in similar["items"]} == cooking - {system.book_id(BOOK)}
        assert all(item["title"].startswith("Cooking book") for item in similar["items"])
        if not system.personal_lists:
            return
        response = client.get(
            f"/readers/{system.reader_id(READER)}/recommendations",
            params={"k": 2},
            headers={"X-API-Key": READER_KEY},
        )
        body = response.json()
    assert body["strategy"] == "personalized", body
    unborrowed = set(books_of_subject(0)) - borrowed_by(READER)
    assert {item["book_id"] for item in body["items"]} == {system.book_id(b) for b in unborrowed}
