"""An objection, an erasure or a new loan written by another process changes the front door's
answer within a second, on SQLite and on PostgreSQL, though each worker keeps readers' consent
and loans between requests; on PostgreSQL also while its listener is down or lacks the triggers.

The writes run in a separate Python process, which prints the time right after its commit."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from recsys.config import Settings
from recsys.lists.rendered import DEFAULT_QUERY
from recsys.privacy import Pseudonymizer
from recsys.service import answers, reader_states
from recsys.service.app import create_app

from .service_library import (
    CHANGE_DEADLINE,
    PSEUDONYM_KEY,
    TRAIN_END,
    Trained,
    build_loans,
    fill_database,
    fit_model,
    metric_value,
    newer_loans,
    pseudonymized,
    publish_model,
    reader_get,
    seen_within,
    service_settings_for,
    store_loans,
    wait_until,
)
from .test_front_readers import ROUTE, all_lists_ready

READER = "R105"
#: Each write as another program would make it: (name, Python statements using `engine`,
#: `reader` and `book`, and the answer's sign that it was seen).
WRITES = {
    "objection": "set_consent(engine, reader_id=reader, consented=False, at=int(time.time()))",
    "erasure": "forget_reader(engine, pseudonym=reader)",
    "new loan": (
        "with engine.begin() as c:\n"
        "    c.execute(insert(loans).values(reader_id=reader, book_id=book, "
        f"borrowed_at={TRAIN_END + 86_400}, event='loan'))"
    ),
}
WRITER = """
import sys, time
from sqlalchemy import insert
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.db.engine import make_engine
from recsys.db.tables import loans
from recsys.erasure import forget_reader
engine = make_engine(Settings(_env_file=None, database_url=sys.argv[1]))
reader, book = sys.argv[2], sys.argv[3]
{write}
print(time.time(), flush=True)
engine.dispose()
"""


@contextlib.contextmanager
def written_by_another_process(url: str, write: str, reader: str, book: str) -> Iterator[float]:
    """Run `write` in a new Python process; yields the `time.time()` right after it committed,
    as soon as the process prints it (it shuts down meanwhile; awaited after the block)."""
    script = WRITER.format(write=textwrap.dedent(write))
    process = subprocess.Popen(
        [sys.executable, "-c", script, url, reader, book],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout is not None else ""
        if not line:
            raise AssertionError(f"the writing process failed: {process.communicate()[1]}")
        yield float(line)
    finally:
        process.communicate(timeout=120)


@pytest.fixture
def served(engine: Engine, db_settings: Settings, trained: Trained) -> Iterator[TestClient]:
    """The app on the `engine` fixture's database, every list ready, keeping readers' states."""
    with serving(engine, db_settings, trained) as client:
        yield client


@contextlib.contextmanager
def serving(engine: Engine, db_settings: Settings, trained: Trained) -> Iterator[TestClient]:
    fill_database(engine, PSEUDONYM_KEY, trained)
    settings = service_settings_for(db_settings)
    publish_model(settings.models_dir, trained)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/health/ready").status_code == 200, what="a model")
        states = client.app.state.reader_states  # type: ignore[attr-defined]
        wait_until(lambda: states.kept_between_requests, what="readers' states to be kept")
        yield all_lists_ready(client)


def pseudonym(reader: str) -> str:
    return Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize(reader)


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def replayed(client: TestClient, reader: str) -> bool:
    """Whether the reader's default list would come from the lists rendered for every worker."""
    state = client.app.state  # type: ignore[attr-defined]
    served, found = state.store.served, pseudonym(reader)
    curation = state.curation.current(served)
    version = answers.version_of(served, curation)
    fingerprint = state.reader_states.read(found).fingerprint
    kept = state.replays.get(version, served, curation.version, found, DEFAULT_QUERY, fingerprint)
    return kept is not None


#: A query whose list is rendered as asked, and the default one, rendered ahead for every worker.
QUERIES = {"k=4": {"k": 4}, "default": {}}


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_by_another_process_changes_the_answer_within_a_second(
    served: TestClient, engine: Engine, write: str, query: str
) -> None:
    params = QUERIES[query]
    if not params:
        warmer = served.app.state.warmer  # type: ignore[attr-defined]
        wait_until(lambda: not warmer.pending, what="the lists rendered for every worker")
        assert replayed(served, READER)
    before = reader_get(served, READER, **params).json()
    assert before["strategy"] == "personalized"
    states = served.app.state.reader_states  # type: ignore[attr-defined]

    def kept_after_a_request() -> bool:
        """On PostgreSQL nothing is kept while a loaded machine keeps the listener from proving
        itself alive; the change must then reach the kept state, not a per-request read."""
        reader_get(served, READER, **params)
        return states.kept(pseudonym(READER)) is not None

    wait_until(kept_after_a_request, what="the reader's state kept between requests")
    top = before["items"][0]["book_id"]

    def changed() -> bool:
        after = reader_get(served, READER, **params).json()
        return after["strategy"] != "personalized" or after["items"][0]["book_id"] != top

    url = database_url(engine)
    with written_by_another_process(url, WRITES[write], pseudonym(READER), top) as committed:
        assert seen_within(changed, since=committed, what=f"the {write}") <= CHANGE_DEADLINE
    fast = reader_get(served, READER, **params)
    assert fast.content == reader_get(served, READER, **params, **ROUTE).content  # route agrees
    assert not replayed(served, READER)
    if write != "new loan":
        assert fast.json()["strategy"] == "fallback:popular"
    else:
        assert fast.json()["strategy"] == "fold-in"
        assert top not in {item["book_id"] for item in fast.json()["items"]}


POSTGRES_ONLY = pytest.mark.parametrize(
    "engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def terminate_listener(engine: Engine) -> int:
    """End this process's listener connection as a failing network or server would."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"recsys reader changes {os.getpid()}"},
            ).scalar_one()
        )


@POSTGRES_ONLY
def test_while_the_listener_is_down_every_request_reads_the_store(
    served: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys.db.reader_changes")
    assert reader_get(served, READER, k=4).json()["strategy"] == "personalized"
    with engine.begin() as connection:  # the triggers gone: no notices ever again
        connection.execute(text("DROP TRIGGER recsys_reader_changed ON consent"))
    assert terminate_listener(engine) == 1
    states = served.app.state.reader_states  # type: ignore[attr-defined]
    wait_until(lambda: not states.kept_between_requests, what="the fallback", deadline=1.0)
    assert states.kept(pseudonym(READER)) is None
    url = database_url(engine)
    with written_by_another_process(url, WRITES["objection"], pseudonym(READER), "") as committed:
        assert reader_get(served, READER, k=4).json()["strategy"] == "fallback:popular"  # at once
        assert time.time() - committed < CHANGE_DEADLINE
    wait_until(lambda: "lacks trigger recsys_reader_changed" in caplog.text, what="the log line")
    assert "read on every request" in caplog.text
    assert pseudonym(READER) not in caplog.text
    served.app.state.metrics.observe_reader_states(states)  # type: ignore[attr-defined]
    assert metric_value(served.get("/metrics").text, "recsys_reader_state_kept") == 0


@POSTGRES_ONLY
def test_a_lost_listener_connection_still_sees_a_write_within_a_second(
    served: TestClient, engine: Engine
) -> None:
    assert reader_get(served, READER, k=4).json()["strategy"] == "personalized"
    assert terminate_listener(engine) == 1
    url = database_url(engine)
    with written_by_another_process(url, WRITES["objection"], pseudonym(READER), "") as committed:
        seen_within(
            lambda: reader_get(served, READER, k=4).json()["strategy"] == "fallback:popular",
            since=committed,
            what="the objection",
        )
    states = served.app.state.reader_states  # type: ignore[attr-defined]
    wait_until(lambda: states.kept_between_requests, what="the listener to be back")


def test_the_gauge_says_states_are_kept(served: TestClient) -> None:
    states = served.app.state.reader_states  # type: ignore[attr-defined]
    served.app.state.metrics.observe_reader_states(states)  # type: ignore[attr-defined]
    assert metric_value(served.get("/metrics").text, "recsys_reader_state_kept") == 1


def test_a_reader_whose_fingerprint_alone_is_kept_is_answered_without_a_query(
    engine: Engine, db_settings: Settings, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the states a worker keeps (one here), every listed reader's fingerprint is kept:
    their default list is replayed without reading the store, and a write still changes it
    within a second. On PostgreSQL the write drops only the writer's reader; on SQLite it drops
    everything, and the others are read again when they ask (not all of them ahead)."""
    monkeypatch.setattr(reader_states, "MAX_KEPT_READERS", 1)
    with serving(engine, db_settings, trained) as served:
        state = served.app.state  # type: ignore[attr-defined]
        wait_until(lambda: not state.warmer.pending, what="every listed reader's fingerprint")
        readers = [READER, "R211", "R307", "R001"]
        assert all(replayed(served, reader) for reader in readers)
        before = not_kept_reads(served)
        for reader in readers * 2:
            fast = reader_get(served, reader)
            assert fast.json()["strategy"] == "personalized"
            assert fast.content == reader_get(served, reader, **ROUTE).content
        assert not_kept_reads(served) == before
        url = database_url(engine)
        with written_by_another_process(
            url, WRITES["objection"], pseudonym(READER), ""
        ) as committed:
            seen_within(
                lambda: reader_get(served, READER).json()["strategy"] == "fallback:popular",
                since=committed,
                what="the objection",
            )
        wait_until(lambda: not state.warmer.pending, what="the warmer's pass, if any")
        before = not_kept_reads(served)
        others = readers[1:]  # all but the one who objected
        for reader in others:
            assert reader_get(served, reader).json()["strategy"] == "personalized"
        dropped_everyone = engine.dialect.name == "sqlite"
        assert not_kept_reads(served) == before + (len(others) if dropped_everyone else 0)


def not_kept_reads(client: TestClient) -> float | None:
    """Readers' states read from the store because nothing of them was kept."""
    text = client.get("/metrics").text
    return metric_value(text, "recsys_reader_state_reads_total", reason="not_kept")


def settled(client: TestClient, run_id: str | None = None) -> Callable[[], bool]:
    """Whether the worker serves a model (`run_id`, if given) and warmed what it had to."""
    state = client.app.state  # type: ignore[attr-defined]

    def check() -> bool:
        served = state.store.served
        if served is None or (run_id is not None and served.version != run_id):
            return False
        return not state.warmer.pending

    return check


def test_after_a_swap_a_reader_new_to_the_model_is_answered_from_a_fingerprint(
    engine: Engine, db_settings: Settings, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader whose first loans came after the served model is listed by the next one. Two
    workers serve it: one renders the new model's lists (reading every reader's state), the
    other opens them, and reads the fingerprints of the readers new to the model, so their
    first ask there replays their rendered list without reading the store."""
    monkeypatch.setattr(reader_states, "MAX_KEPT_READERS", 1)
    fill_database(engine, PSEUDONYM_KEY, trained, loans=build_loans())
    settings = service_settings_for(db_settings)
    publish_model(settings.models_dir, trained)
    newcomer = pseudonym("R-NEW")
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        workers = [first, second]
        for worker in workers:
            wait_until(settled(worker), what="a model, its lists and readers' fingerprints")
        rendered = [w.app.state.warmer.rendered for w in workers]  # type: ignore[attr-defined]
        store_loans(engine, pseudonymized(newer_loans(), PSEUDONYM_KEY))
        model = fit_model(
            pd.concat([build_loans(), newer_loans()]),
            trained.catalog,
            trained.holdings,
            PSEUDONYM_KEY,
        )
        run_id = publish_model(settings.models_dir, trained, model)
        for worker in workers:
            wait_until(settled(worker, run_id), what="the new model's readers' fingerprints")
        opened = [
            worker
            for worker, before in zip(workers, rendered, strict=True)
            if worker.app.state.warmer.rendered == before  # type: ignore[attr-defined]
        ]
        assert len(opened) == 1  # the other worker rendered the new model's lists
        [worker] = opened
        state = worker.app.state  # type: ignore[attr-defined]
        assert newcomer in state.store.served.readers.index
        assert state.reader_states.kept_fingerprint(newcomer) is not None
        reads = not_kept_reads(worker)
        answer = reader_get(worker, "R-NEW")
        assert answer.json()["strategy"] == "personalized"
        assert answer.json()["model_version"] == run_id
        assert not_kept_reads(worker) == reads
