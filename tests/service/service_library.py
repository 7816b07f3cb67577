"""The tiny hand-built library of the service tests and helpers to fit, publish and query.

Readers cluster by subject (four subjects, six works each), so collaborative links exist and the
right neighbours are known. Two works have two editions (a print book and an ebook). Reader
``R-FOLD`` has a loan newer than the model and ``R-NEW`` has only loans newer than the model.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine, insert

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.db.tables import catalog as catalog_table
from recsys.db.tables import holdings as holdings_table
from recsys.db.tables import loans as loans_table
from recsys.lists.served import served_lists
from recsys.models.base import Recommender
from recsys.models.registry import build_model
from recsys.privacy import Pseudonymizer

SUBJECTS = ("Fantasy", "History", "Science", "Cooking")
AUDIENCES = ("adult", "children", "young_adult")
PSEUDONYM_KEY = "service-tests-key-" + "9" * 32
READER_KEY = "reader-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"
FUZZ_KEY = "fuzz-key-0123456789"
DAY = 86_400
START = 1_700_000_000
TRAIN_END = START + 200 * DAY
READY_DEADLINE = 30.0
#: How soon after it is written an objection, an erasure or a new loan must change an answer.
CHANGE_DEADLINE = 1.0


def book_id(subject: int, n: int) -> str:
    return f"B{subject}{n:02d}"


def build_catalog() -> pd.DataFrame:
    rows = []
    for s, subject in enumerate(SUBJECTS):
        for n in range(6):
            rows.append(
                {
                    C.BOOK_ID: book_id(s, n),
                    # as MARC exports hold them: ISBD punctuation and life dates
                    C.TITLE: f"{subject} tale {n} /",
                    C.AUTHOR: f"Author {s}{n % 3}, 1950-....",
                    C.SUBJECTS: f"{subject}; Fiction",
                    C.ISBN: None,
                    C.LANGUAGE: "eng" if n % 4 else "fre",
                    C.AUDIENCE: AUDIENCES[n % 3],
                    C.YEAR: 2000 + n,
                    C.WORK_ID: f"W{s}{n:02d}",
                    C.FORMAT: "book",
                }
            )
    for s in (0, 1):  # ebook editions of the first work of two subjects
        rows.append(
            {
                C.BOOK_ID: book_id(s, 0) + "E",
                C.TITLE: f"{SUBJECTS[s]} tale 0 :",
                C.AUTHOR: f"Author {s}0 1950-",
                C.SUBJECTS: f"{SUBJECTS[s]}; Fiction",
                C.ISBN: None,
                C.LANGUAGE: "eng",
                C.AUDIENCE: AUDIENCES[0],
                C.YEAR: 2010,
                C.WORK_ID: f"W{s}00",
                C.FORMAT: "ebook",
            }
        )
    rows.append(
        {  # a new acquisition nobody borrowed, with no subject in common
            C.BOOK_ID: "NEW1",
            C.TITLE: "Unrelated new book",
            C.AUTHOR: "Nobody",
            C.SUBJECTS: None,
            C.ISBN: None,
            C.LANGUAGE: "eng",
            C.AUDIENCE: "adult",
            C.YEAR: 2024,
            C.WORK_ID: None,
            C.FORMAT: "book",
        }
    )
    frame = pd.DataFrame(rows)
    frame[C.YEAR] = frame[C.YEAR].astype("Int64")
    return frame


def build_holdings(catalog: pd.DataFrame) -> pd.DataFrame:
    """CEN holds everything (every third book on loan); NOR holds even-numbered books only."""
    rows = []
    for i, book in enumerate(catalog[C.BOOK_ID]):
        rows.append(
            {C.BOOK_ID: book, C.LIBRARY_ID: "CEN", C.COPIES: 2, C.AVAILABLE: 0 if i % 3 == 0 else 1}
        )
        if i % 2 == 0:
            rows.append({C.BOOK_ID: book, C.LIBRARY_ID: "NOR", C.COPIES: 1, C.AVAILABLE: 1})
    return pd.DataFrame(rows)


def build_loans() -> pd.DataFrame:
    """Raw reader ids; 12 readers per subject, each borrowing 4 of its 6 works."""
    rows = []
    for s in range(len(SUBJECTS)):
        for r in range(12):
            reader = f"R{s}{r:02d}"
            for j in range(4):
                n = (r + j) % 6
                rows.append(
                    {
                        C.READER_ID: reader,
                        C.BOOK_ID: book_id(s, n),
                        C.TIMESTAMP: START + (r * 4 + j) * DAY,
                        C.LIBRARY_ID: "CEN" if r % 2 else "NOR",
                    }
                )
    return pd.DataFrame(rows)


def newer_loans() -> pd.DataFrame:
    """Loans after the training data: one for a known reader, two for a reader the model lacks."""
    return pd.DataFrame(
        [
            {
                C.READER_ID: "R000",
                C.BOOK_ID: book_id(0, 5),
                C.TIMESTAMP: TRAIN_END + DAY,
                C.LIBRARY_ID: "CEN",
            },
            {
                C.READER_ID: "R-NEW",
                C.BOOK_ID: book_id(2, 0),
                C.TIMESTAMP: TRAIN_END + DAY,
                C.LIBRARY_ID: "CEN",
            },
            {
                C.READER_ID: "R-NEW",
                C.BOOK_ID: book_id(2, 1),
                C.TIMESTAMP: TRAIN_END + 2 * DAY,
                C.LIBRARY_ID: "CEN",
            },
        ]
    )


@dataclass(frozen=True)
class Trained:
    model: Recommender
    catalog: pd.DataFrame
    holdings: pd.DataFrame


def pseudonymized(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    out = frame.copy()
    out[C.READER_ID] = Pseudonymizer(key.encode()).pseudonymize_series(out[C.READER_ID])
    return out


def train_default(**params: object) -> Trained:
    """The tiny library's catalog, holdings and a model fitted on its loans."""
    catalog = build_catalog()
    holdings = build_holdings(catalog)
    return Trained(
        fit_model(build_loans(), catalog, holdings, PSEUDONYM_KEY, **params), catalog, holdings
    )


def service_settings_for(settings: Settings) -> Settings:
    """`settings` with API keys, the tests' pseudonym key and a fast model poll."""
    return settings.model_copy(
        update={
            "api_keys": SecretStr(f"{READER_KEY}:reader,{ADMIN_KEY}:admin"),
            "pseudonym_key": SecretStr(PSEUDONYM_KEY),
            "api_keys_file": settings.data_dir / "no-api-keys-file",
            "model_poll_seconds": 0.05,
        }
    )


def fit_model(
    loans: pd.DataFrame, catalog: pd.DataFrame, holdings: pd.DataFrame, key: str, **params: object
) -> Recommender:
    interactions = pseudonymized(loans, key)
    interactions[C.TIMESTAMP] = pd.to_datetime(interactions[C.TIMESTAMP], unit="s", utc=True)
    dataset = Dataset.from_interactions(interactions, catalog, holdings)
    defaults: dict[str, object] = {
        "factors": 8,
        "iterations": 3,
        "min_pair_support": 2,
        "random_state": 7,
    }
    return build_model("hybrid", **{**defaults, **params}).fit(dataset)


def fill_database(
    engine: Engine, key: str, trained: Trained, loans: pd.DataFrame | None = None
) -> None:
    """Store the catalog, holdings and `loans` (default: the tiny library's, newer ones too)."""
    if loans is None:
        loans = pd.concat([build_loans(), newer_loans()])
    loans = pseudonymized(loans, key)
    with engine.begin() as connection:
        connection.execute(
            insert(catalog_table),
            trained.catalog.astype(object).where(trained.catalog.notna(), None).to_dict("records"),
        )
        connection.execute(insert(holdings_table), trained.holdings.to_dict("records"))
    store_loans(engine, loans)


def store_loans(engine: Engine, loans: pd.DataFrame) -> None:
    """Store `loans` (pseudonymized already) as checkouts."""
    with engine.begin() as connection:
        connection.execute(
            insert(loans_table),
            [
                {
                    "reader_id": r[C.READER_ID],
                    "book_id": r[C.BOOK_ID],
                    "borrowed_at": int(r[C.TIMESTAMP]),
                    "event": "loan",
                    "library_id": r[C.LIBRARY_ID],
                }
                for r in loans.to_dict("records")
            ],
        )


def save_model(
    models_dir: Path,
    trained: Trained,
    model: Recommender | None = None,
    *,
    lists: bool = True,
    erasures_applied: int = 0,
) -> str:
    """Save a run of `model` (default: the trained one) with every reader's and book's list
    computed, as the nightly does; without them with ``lists=False``. `erasures_applied`: the
    latest erasure the run says it reflects."""
    model = model or trained.model
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        models_dir,
        run_id,
        model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=erasures_applied,
        manifest_extra={"note": "test"},
        lists=served_lists(model, trained.catalog, trained.holdings) if lists else None,
    )
    return run_id


def publish_model(
    models_dir: Path, trained: Trained, model: Recommender | None = None, *, lists: bool = True
) -> str:
    """`save_model`, then publish the run."""
    run_id = save_model(models_dir, trained, model, lists=lists)
    artifacts.publish(models_dir, run_id, latest_erasure=0)
    return run_id


def wait_until(check: Callable[[], bool], *, what: str, deadline: float = READY_DEADLINE) -> None:
    """Poll `check` until it holds, failing after `deadline` seconds (no fixed sleeps)."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}")
        time.sleep(0.01)


def seen_within(check: Callable[[], bool], *, since: float, what: str) -> float:
    """Seconds from `since` (the `time.time()` of a commit) until `check()` holds, polling
    without pause; fails once `CHANGE_DEADLINE` has passed."""
    while not check():
        if time.time() - since > CHANGE_DEADLINE:
            raise AssertionError(f"{what} was not seen within {CHANGE_DEADLINE} s of its commit")
    return time.time() - since


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn_on_loopback(app: FastAPI) -> Iterator[str]:
    """uvicorn serving `app` on a free loopback port, in a thread, until the block ends; yields
    its base URL once the app is ready (a model loaded)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, what="uvicorn to serve a model")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def reader_get(client: TestClient, reader: str, **params: object) -> Response:
    return client.get(
        f"/readers/{reader}/recommendations", params=params, headers={"X-API-Key": READER_KEY}
    )


def metric_value(text: str, sample: str, **labels: str) -> float | None:
    """The value of one sample (name and exact labels) in a Prometheus exposition, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and found.labels == labels:
                return float(found.value)
    return None
