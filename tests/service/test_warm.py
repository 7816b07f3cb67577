"""Readers' lists made before they ask: after the start, after a model swap, and still honest."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recsys import artifacts
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.curation import manage
from recsys.db.reader_state import recent_readers
from recsys.lists.cache import Rendered
from recsys.lists.pipeline import FALLBACK_POPULAR
from recsys.lists.query import FILTERED, parse_query
from recsys.lists.rendered import DEFAULT_QUERY, RenderedListsWriter, lists_key
from recsys.lists.served import build_served
from recsys.privacy import Pseudonymizer
from recsys.service import answers

from .service_library import (
    PSEUDONYM_KEY,
    Trained,
    build_loans,
    publish_model,
    reader_get,
    save_model,
    wait_until,
)
from .test_front_readers import ROUTE

PSEUDONYMS = Pseudonymizer(PSEUDONYM_KEY.encode())


def _kept(client: TestClient, reader: str, query: object = DEFAULT_QUERY) -> Rendered | None:
    """The list the worker keeps for the reader and query under the served version, or replays
    from the lists rendered for every worker (for the reader's rows as they are now)."""
    state = client.app.state  # type: ignore[attr-defined]
    served = state.store.served
    curation = state.curation.current(served)
    version = answers.version_of(served, curation)
    pseudonym = PSEUDONYMS.pseudonymize(reader)
    kept = state.caches.reader.get(version, (pseudonym, query))
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    fingerprint = state.reader_states.read(pseudonym).fingerprint
    return state.replays.get(  # type: ignore[no-any-return]
        version, served, curation.version, pseudonym, query, fingerprint
    )


def _passes(client: TestClient) -> int:
    return int(client.app.state.warmer.passes)  # type: ignore[attr-defined]


def _after_the_first_pass(client: TestClient, reader: str) -> dict[str, Any]:
    """The reader's list once the worker finished its first warming pass."""
    wait_until(lambda: _passes(client) >= 1, what="the first warming pass")
    return reader_get(client, reader).json()


def test_recent_readers_are_the_latest_borrowers_first(library: Engine) -> None:
    readers = recent_readers(library, 1_000)
    # the tiny library's readers and the reader only the newer loans have
    assert len(readers) == build_loans()["reader_id"].nunique() + 1
    assert readers[:2] == [PSEUDONYMS.pseudonymize("R-NEW"), PSEUDONYMS.pseudonymize("R000")]
    assert recent_readers(library, 2) == readers[:2]


def test_after_the_start_every_recent_readers_list_is_made_before_they_ask(
    fresh_client: TestClient, library: Engine
) -> None:
    wait_until(lambda: _passes(fresh_client) >= 1, what="the first warming pass")
    readers = ["R-NEW", "R000", "R105", "R311"]  # fold-in, fold-in, precomputed, precomputed
    kept = {reader: _kept(fresh_client, reader) for reader in readers}
    assert all(entry is not None for entry in kept.values())
    warmer = fresh_client.app.state.warmer  # type: ignore[attr-defined]
    assert warmer.made == len(recent_readers(library, 1_000))
    assert warmer.rendered > 0  # the precomputed readers' lists, rendered for every worker
    for reader in readers:
        answer = reader_get(fresh_client, reader)
        assert answer.status_code == 200
        assert answer.content == kept[reader].body  # type: ignore[union-attr]


def test_after_a_swap_the_lists_asked_before_are_made_by_the_new_model(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    query = parse_query(b"k=3", FILTERED)
    wait_until(lambda: _passes(fresh_client) >= 1, what="the first warming pass")
    before = reader_get(fresh_client, "R105", k=3).json()
    passes = _passes(fresh_client)
    run_id = publish_model(service_settings.models_dir, trained)
    wait_until(
        lambda: (
            fresh_client.app.state.store.served.version == run_id  # type: ignore[attr-defined]
            and _passes(fresh_client) > passes
        ),
        what="the new model's warming pass",
    )
    kept = _kept(fresh_client, "R105", query)
    assert kept is not None, "the list asked under the old model was not made again"
    answer = reader_get(fresh_client, "R105", k=3)
    assert answer.content == kept.body
    assert answer.json()["model_version"] == run_id != before["model_version"]
    assert [i["book_id"] for i in answer.json()["items"]] == [i["book_id"] for i in before["items"]]


def test_a_warmed_list_changes_at_once_when_the_reader_objects(
    fresh_client: TestClient, library: Engine
) -> None:
    wait_until(lambda: _passes(fresh_client) >= 1, what="the first warming pass")
    assert _kept(fresh_client, "R105") is not None
    assert reader_get(fresh_client, "R105").json()["strategy"] != FALLBACK_POPULAR
    set_consent(library, reader_id=PSEUDONYMS.pseudonymize("R105"), consented=False)  # a process
    assert reader_get(fresh_client, "R105").json()["strategy"] == FALLBACK_POPULAR


def test_no_list_is_made_before_it_is_asked_when_warming_is_off(
    make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    client = make_client(service_settings.model_copy(update={"warm_readers": 0}))
    assert reader_get(client, "R105").status_code == 200
    state = client.app.state  # type: ignore[attr-defined]
    assert state.caches.reader.recent_keys() == [(PSEUDONYMS.pseudonymize("R105"), DEFAULT_QUERY)]
    assert state.warmer.passes == 0


def test_a_second_worker_replays_the_lists_the_first_rendered(
    fresh_client: TestClient, make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    first = fresh_client
    wait_until(lambda: _passes(first) >= 1, what="the first worker's warming pass")
    assert first.app.state.warmer.rendered > 0  # type: ignore[attr-defined]
    second = make_client(service_settings)  # another worker of the same service
    wait_until(lambda: _passes(second) >= 1, what="the second worker's warming pass")
    assert second.app.state.warmer.rendered == 0  # type: ignore[attr-defined]
    for reader in ("R105", "R311", "R000", "never-borrowed"):
        answer = reader_get(second, reader)
        assert answer.status_code == 200
        assert answer.content == reader_get(first, reader).content
        assert answer.content == reader_get(second, reader, **ROUTE).content  # the route agrees
    assert _kept(second, "R105") is not None and _kept(second, "R311") is not None


@contextlib.contextmanager
def _new_model_with_its_lists_held(
    client: TestClient,
    service_settings: Settings,
    trained: Trained,
    library: Engine,
    *,
    erasures_applied: int = 0,
) -> Iterator[str]:
    """Publish a new run (reflecting erasures up to `erasures_applied`) and wait until it is
    served, while this test holds the lock on its default lists' key (as another worker
    rendering them would): yields the run id."""
    state = client.app.state  # type: ignore[attr-defined]
    run_id = save_model(service_settings.models_dir, trained, erasures_applied=erasures_applied)
    bundle = artifacts.load_bundle(
        artifacts.run_path(service_settings.models_dir, run_id), latest_erasure=0
    )
    new = build_served(bundle, library, min_readers=service_settings.min_pair_support)
    key = lists_key(
        new, state.curation.current(new).version, state.reader_states.consent_rule, DEFAULT_QUERY
    )
    writer = RenderedListsWriter.claim(bundle.path, key, len(new.readers))
    assert writer is not None
    try:
        artifacts.publish(service_settings.models_dir, run_id, latest_erasure=0)
        wait_until(lambda: state.store.served.version == run_id, what="the new model served")
        yield run_id
    finally:
        writer.abandon()


def test_after_a_swap_the_previous_lists_stand_in_until_the_new_ones_are_rendered(
    fresh_client: TestClient, service_settings: Settings, trained: Trained, library: Engine
) -> None:
    client, state = fresh_client, fresh_client.app.state  # type: ignore[attr-defined]
    old = _after_the_first_pass(client, "R105")
    with _new_model_with_its_lists_held(client, service_settings, trained, library) as run_id:
        standing_in = reader_get(client, "R105").json()
        assert standing_in == old  # the previous model's list, labelled with its version
        assert reader_get(client, "R105", k=3).json()["model_version"] == run_id  # made as asked
        set_consent(library, reader_id=PSEUDONYMS.pseudonymize("R105"), consented=False)
        assert reader_get(client, "R105").json()["strategy"] == FALLBACK_POPULAR
        set_consent(library, reader_id=PSEUDONYMS.pseudonymize("R105"), consented=True)
        # a consent answer is on record now: rows the old lists were not made from
        assert reader_get(client, "R105").json()["model_version"] == run_id
        assert reader_get(client, "R311").json()["model_version"] == old["model_version"]
    wait_until(lambda: not state.warmer.pending, what="the new model's lists rendered")
    assert reader_get(client, "R105").json()["model_version"] == run_id


def test_lists_made_under_other_rules_never_stand_in(
    fresh_client: TestClient, service_settings: Settings, trained: Trained, library: Engine
) -> None:
    client, state = fresh_client, fresh_client.app.state  # type: ignore[attr-defined]
    old = _after_the_first_pass(client, "R311")
    top = old["items"][0]["book_id"]
    with _new_model_with_its_lists_held(client, service_settings, trained, library) as run_id:
        assert reader_get(client, "R311").json() == old  # standing in, under the same rules
        # a librarian suppresses the reader's first book (as the admin CLI would, elsewhere)
        read = state.curation.version
        manage.add_rule(library, kind="suppress", book_id=top, created_by="anna", reason="test")
        wait_until(lambda: state.curation.version > read, what="the new rule read")
        answer = reader_get(client, "R311").json()
        assert answer["model_version"] == run_id  # not the list made under the old rules
        assert top not in [item["book_id"] for item in answer["items"]]


def test_lists_of_a_model_that_reflects_fewer_erasures_never_stand_in(
    fresh_client: TestClient, service_settings: Settings, trained: Trained, library: Engine
) -> None:
    client = fresh_client
    old = _after_the_first_pass(client, "R311")
    with _new_model_with_its_lists_held(
        client, service_settings, trained, library, erasures_applied=1
    ) as run_id:
        # the old lists may hold what the new run's erasure removed
        assert reader_get(client, "R311").json()["model_version"] == run_id != old["model_version"]


def test_where_the_rendered_folder_cannot_be_written_each_worker_goes_on_without_it(
    make_client: Callable[..., TestClient],
    service_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models_dir = service_settings.models_dir
    run = artifacts.run_path(models_dir, artifacts.current_run_id(models_dir) or "")
    (run / artifacts.RENDERED_DIR).write_text("not a folder")  # as a read-only models dir would
    with caplog.at_level(logging.WARNING, logger="recsys.service.warm"):
        client = make_client(service_settings)
        wait_until(lambda: _passes(client) >= 1, what="the first warming pass")
    assert "readers' lists not rendered for every worker: FileExistsError" in caplog.text
    assert client.app.state.warmer.rendered == 0  # type: ignore[attr-defined]
    assert _kept(client, "R105") is not None  # kept by this worker instead
    answer = reader_get(client, "R105")
    assert answer.content == reader_get(client, "R105", **ROUTE).content
