"""The nightly renders every listed reader's default list before it publishes: a service
started on the published run replays them without rendering one, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from recsys import artifacts
from recsys.artifacts import Bundle
from recsys.config import Settings
from recsys.lists import ahead
from recsys.lists.rendered import DEFAULT_QUERY, HEADER
from recsys.nightly import steps
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, SampleLibrary, generate_library
from recsys.service import answers
from recsys.service.app import create_app

READER_KEY = "reader-key-0123456789"
DEADLINE = 60.0


@pytest.fixture
def library() -> SampleLibrary:
    return generate_library(SampleConfig(n_loans=3_000, seed=5))


def _wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` (a worker's background task moves on meanwhile) until it holds."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {DEADLINE:.0f} s for {what}")
        time.sleep(0.02)


def _placed(bundle: Bundle) -> list[Path]:
    root = bundle.path / artifacts.RENDERED_DIR
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def test_the_published_run_carries_every_readers_default_list_and_the_service_replays_them(
    publish_sample: Callable[..., tuple[Settings, Bundle]],
    library: SampleLibrary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ahead, "BLOCK", 40)  # several blocks: rendered by a process per core
    settings, bundle = publish_sample(library)
    [folder] = _placed(bundle)
    current = Path(settings.models_dir) / artifacts.CURRENT
    assert (folder / HEADER).stat().st_mtime_ns <= current.stat().st_mtime_ns  # before publish
    served_settings = settings.model_copy(
        update={
            "api_keys": SecretStr(f"{READER_KEY}:reader"),
            "api_keys_file": settings.data_dir / "no-api-keys-file",
            "model_poll_seconds": 0.05,
        }
    )
    pseudonyms = Pseudonymizer(settings.pseudonym_key_bytes())
    with TestClient(create_app(served_settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        _wait_until(lambda: state.warmer.passes >= 1, "the first warming pass")
        assert state.warmer.rendered == 0  # found placed: this worker rendered none
        served = state.store.served
        curation = state.curation.current(served)
        version = answers.version_of(served, curation)
        assert state.replays.ready(version)
        readers = library.loans["reader_id"].astype(str).drop_duplicates().head(40).tolist()
        replayed = 0
        for reader in readers:
            pseudonym = pseudonyms.pseudonymize(reader)
            fingerprint = state.reader_states.read(pseudonym).fingerprint
            found = state.replays.get(
                version, served, curation.version, pseudonym, DEFAULT_QUERY, fingerprint
            )
            path = f"/readers/{reader}/recommendations"
            fast = client.get(path, headers={"X-API-Key": READER_KEY})
            assert fast.status_code == 200
            if found is not None:
                replayed += 1
                assert fast.content == found.body
            route = client.get(path, params={"route": "fastapi"}, headers={"X-API-Key": READER_KEY})
            assert route.content == fast.content
        assert replayed == sum(pseudonyms.pseudonymize(r) in served.readers.index for r in readers)
        assert replayed > 0


def test_a_failed_render_places_nothing_and_does_not_stop_the_run(
    publish_sample: Callable[..., tuple[Settings, Bundle]],
    library: SampleLibrary,
    engine: Engine,
) -> None:
    settings, bundle = publish_sample(library)
    rendered = bundle.path / artifacts.RENDERED_DIR
    shutil.rmtree(rendered)
    rendered.write_text("not a folder")  # as a models dir the run may not write into would

    found = steps.render(settings, steps.RunContext(bundle.run_id, engine))

    assert found == {"rendered": 0, "error": "FileExistsError"}
    assert rendered.is_file()
