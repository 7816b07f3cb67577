"""One list pipeline: the front door, the FastAPI route and the batch CSV give every reader of a
generated library the same list, byte for byte where they render the same JSON (issue 22; issue
20, item 10). Readers who object, readers with loans newer than the model and readers the model
does not know are among them, and a librarian's rule holds in all three."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.cli import main
from recsys.config import Settings, get_settings
from recsys.consent import set_consent
from recsys.curation import manage
from recsys.db.engine import make_engine
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, generate_library, write_library
from recsys.service.app import create_app

KEY = "one-pipeline-key-" + "3" * 32
READER_KEY = "one-pipeline-reader-key"
K = 6
ROUTE = {"route": "fastapi"}  # a name only the route ignores: the front door steps aside


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, list[str]]]:
    """A generated library after one nightly, its newest day ingested after the model (fold-in),
    a few objections; the settings and every raw reader id of its loans."""
    root = tmp_path_factory.mktemp("site")
    library = generate_library(SampleConfig(n_loans=2_500, seed=11))
    exports = root / "exports"
    write_library(library, exports, split_last_days=1)
    settings = Settings(
        _env_file=None,
        data_dir=root / "data",
        models_dir=root / "models",
        pseudonym_key=KEY,
        pseudonym_key_file=root / "absent.key",
        api_keys=f"{READER_KEY}:reader",
        api_keys_file=root / "absent-keys",
        retention_days=36_500,
        max_volume_drop=1.0,
        model_poll_seconds=0.05,
    )
    values = {
        "RECSYS_DATA_DIR": str(settings.data_dir),
        "RECSYS_MODELS_DIR": str(settings.models_dir),
        "RECSYS_PSEUDONYM_KEY": KEY,
        "RECSYS_API_KEYS_FILE": str(root / "absent-keys"),
        "RECSYS_RETENTION_DAYS": "36500",
        "RECSYS_MAX_VOLUME_DROP": "1.0",
    }
    patch = pytest.MonkeyPatch()
    for name, value in values.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    for newest in (False, True):  # history, nightly; then the newest day, ingested only
        for path in sorted(exports.rglob("*.csv.gz")):
            is_day = "--" not in path.name and path.parent.name in ("loans", "views")
            if is_day == newest or path.parent.name in ("catalog", "holdings"):
                target = settings.inbox_dir / path.parent.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        assert main(["ingest-inbox"] if newest else ["nightly", "--progress", "none"]) == 0
    readers = sorted(library.loans["reader_id"].astype(str).unique())
    engine = make_engine(settings)
    pseudonymizer = Pseudonymizer(KEY.encode())
    for raw in readers[::17]:  # some readers object
        set_consent(engine, reader_id=pseudonymizer.pseudonymize(raw), consented=False, at=1)
    yield settings, [*readers, "never-borrowed"]
    patch.undo()
    get_settings.cache_clear()


def batch_lists(settings: Settings, readers: list[str], tmp: Path) -> dict[str, list[dict]]:
    source, out = tmp / "readers.txt", tmp / "lists.csv"
    source.write_text("\n".join(readers) + "\n")
    assert main(["recommend", "--readers", str(source), "--k", str(K), "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    lists: dict[str, list[dict]] = {}
    for row in frame.to_dict("records"):
        lists.setdefault(row.pop("reader_id"), []).append({**row, "score": float(row["score"])})
    return lists


def as_batch(item: dict) -> dict[str, object]:
    """An API item as a row of the batch CSV reads back (the score as a number)."""
    return {
        "rank": str(item["rank"]),
        "book_id": item["book_id"],
        "score": float(item["score"]),
        "title": item["title"] or "",
        "author": item["author"] or "",
        "reason": item["reason"] or "",
        "availability": item["availability"] or "",
    }


def test_front_door_route_and_batch_agree_for_every_reader(
    site: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, readers = site
    with TestClient(create_app(settings)) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        while store.served is None or not store.served.readers.complete:
            assert time.monotonic() < deadline, "the service never computed every reader's list"
            time.sleep(0.05)
        headers = {"X-API-Key": READER_KEY}
        answers = {}
        strategies = set()
        for reader in readers:
            url = f"/readers/{reader}/recommendations"
            fast = client.get(url, params={"k": K}, headers=headers)
            route = client.get(url, params={"k": K, **ROUTE}, headers=headers)
            assert fast.status_code == route.status_code == 200
            assert fast.content == route.content, reader
            body = json.loads(fast.content)
            strategies.add(body["strategy"])
            answers[reader] = body["items"]
    assert {"personalized", "fold-in", "fallback:popular"} <= strategies
    batch = batch_lists(settings, readers, tmp_path)
    for reader in readers:
        assert batch[reader] == [as_batch(item) for item in answers[reader]], reader


def test_a_rule_holds_in_the_service_and_the_batch_alike(
    site: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, readers = site
    engine = make_engine(settings)
    first = readers[1]
    top = batch_lists(settings, [first], tmp_path)[first][0]["book_id"]
    rule = manage.add_rule(engine, kind="suppress", book_id=top, created_by="test", reason="x")
    try:
        with TestClient(create_app(settings)) as client:
            deadline = time.monotonic() + 60
            store = client.app.state.store  # type: ignore[attr-defined]
            while store.served is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            url = f"/readers/{first}/recommendations"
            items = client.get(url, params={"k": K}, headers={"X-API-Key": READER_KEY}).json()
        shown = batch_lists(settings, [first], tmp_path)[first]
        assert [i["book_id"] for i in shown] == [i["book_id"] for i in items["items"]]
        assert top not in [i["book_id"] for i in shown]
    finally:
        manage.remove_rule(engine, rule.id, removed_by="test", reason="done")
