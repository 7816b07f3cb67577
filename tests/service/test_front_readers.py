"""The front door answers per-reader lists exactly as the FastAPI route does, or lets it answer.

A parameter the route ignores (`ROUTE`) makes the front door step aside, so the same request can
be asked of both; `FrontDoor.answered` shows which one answered.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from recsys.artifacts import Bundle
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.curation.rules import no_rules
from recsys.db.engine import make_engine
from recsys.db.tables import loans
from recsys.lists.history import EMPTY_HISTORY
from recsys.lists.pipeline import NotReady, RankedList, reader_list
from recsys.lists.query import ListQuery
from recsys.lists.served import build_served
from recsys.privacy import Pseudonymizer
from recsys.service.app import create_app
from recsys.service.front import FrontDoor
from recsys.service.model_store import ModelStore

from .service_library import (
    ADMIN_KEY,
    PSEUDONYM_KEY,
    READER_KEY,
    START,
    Trained,
    fill_database,
    metric_value,
    publish_model,
    reader_get,
    seen_within,
    service_settings_for,
    wait_until,
)
from .service_oracle import FILTER_CASES

ROUTE = {"route": "fastapi"}  # unknown to the route (ignored), so the front door steps aside
READERS = ["R000", "R105", "R211", "R307", "R-NEW", "never-borrowed"]


def fast_path_of(client: TestClient) -> FrontDoor:
    node = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(node, FrontDoor):
        node = node.app
    return node


def all_lists_ready(client: TestClient) -> TestClient:
    """`client` once every reader's list is precomputed (before that, the route answers)."""
    wait_until(
        lambda: client.app.state.store.served.readers.complete,  # type: ignore[attr-defined]
        what="every reader's list",
    )
    return client


def same_answer(client: TestClient, reader: str, **params: object) -> httpx.Response:
    """Ask the front door and the route; assert identical status, body and headers."""
    fast = reader_get(client, reader, **params)
    route = reader_get(client, reader, **params, **ROUTE)
    assert (fast.status_code, fast.content) == (route.status_code, route.content), params
    for header in ("cache-control", "content-type", "content-length", "www-authenticate"):
        assert fast.headers.get(header) == route.headers.get(header), header
    return fast


def test_fast_answers_equal_the_routes_for_every_filter(client: TestClient) -> None:
    path = fast_path_of(all_lists_ready(client))
    before = path.answered
    strategies = set()
    for reader in READERS:
        for params in FILTER_CASES:
            for k in (1, 4, 12):
                response = same_answer(client, reader, k=k, **params)
                assert response.status_code == 200
                strategies.add(response.json()["strategy"])
    assert {"personalized", "fold-in", "fallback:popular"} <= strategies
    assert path.answered - before > len(READERS) * len(FILTER_CASES)  # most were fast


def test_the_front_door_answers_plain_requests_and_folds_in(client: TestClient) -> None:
    path = fast_path_of(all_lists_ready(client))
    for reader in ("R105", "never-borrowed", "R000", "R-NEW"):  # R000, R-NEW: newer loans
        before = path.answered
        response = reader_get(client, reader, k=3)
        assert response.status_code == 200
        assert path.answered == before + 1, reader
        assert reader_get(client, reader, k=3, **ROUTE).content == response.content
        assert path.answered == before + 1


@pytest.mark.parametrize(
    "params",
    [
        {"k": 0},
        {"k": 101},
        {"k": "ten"},
        {"audience": "elderly"},
        {"library": ""},
        {"available_only": "perhaps"},
        {"exclude": ""},
        {"exclude": "B" * 129},
        {"language": "x" * 65},
    ],
)
def test_bad_parameters_get_the_routes_422(client: TestClient, params: dict[str, object]) -> None:
    path = fast_path_of(client)
    before = path.answered
    response = same_answer(client, "R105", **params)
    assert response.status_code == 422
    assert path.answered == before


@pytest.mark.parametrize(
    "params",
    [
        {"k": "010"},
        {"available_only": "yes"},
        {"library": "N O R"},
        {"library": "NOR", "k": "3"},
        {"exclude": ["B004", "B105"]},
    ],
)
def test_unusual_but_valid_parameters_are_read_alike(
    client: TestClient, params: dict[str, object]
) -> None:
    path = fast_path_of(all_lists_ready(client))
    before = path.answered
    assert same_answer(client, "R105", **params).status_code == 200
    assert path.answered == before + 1


def test_keys_are_checked_like_the_route_does(client: TestClient) -> None:
    path = fast_path_of(client)
    before = path.answered
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "guess"}, {"X-API-Key": ADMIN_KEY}):
        fast = client.get("/readers/R105/recommendations", headers=headers)
        route = client.get("/readers/R105/recommendations", params=ROUTE, headers=headers)
        assert fast.status_code in (401, 403)
        assert (fast.status_code, fast.content) == (route.status_code, route.content)
        assert fast.headers.get("www-authenticate") == route.headers.get("www-authenticate")
    assert path.answered == before


def test_unknown_and_overlong_reader_ids(client: TestClient) -> None:
    assert same_answer(client, "someone-new", k=5).json()["strategy"] == "fallback:popular"
    overlong = same_answer(client, "X" * 129)
    assert overlong.status_code == 422 and "X" * 129 not in overlong.text


def test_fast_answers_are_counted_in_metrics(fresh_client: TestClient) -> None:
    client = all_lists_ready(fresh_client)
    for _ in range(3):
        assert reader_get(client, "R105", k=2).status_code == 200
    assert fast_path_of(client).answered == 3
    text = client.get("/metrics").text
    route = {"route": "/readers/{reader_id}/recommendations", "method": "GET", "status": "200"}
    assert metric_value(text, "recsys_http_requests_total", **route) == 3
    strategy = {"endpoint": "reader", "strategy": "personalized"}
    assert metric_value(text, "recsys_recommendations_total", **strategy) == 3


def test_consent_withdrawn_by_another_process_applies_to_the_next_request(
    fresh_client: TestClient, library: Engine
) -> None:
    client = all_lists_ready(fresh_client)
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R105")
    assert same_answer(client, "R105", k=4).json()["strategy"] == "personalized"
    before = fast_path_of(client).answered
    # another engine, as the CLI in another process would write it
    set_consent(library, reader_id=pseudonym, consented=False, at=int(time.time()))
    after = same_answer(client, "R105", k=4).json()
    assert fast_path_of(client).answered == before + 1
    popular = client.get("/popular", params={"k": 4}).json()
    assert after["strategy"] == "fallback:popular"
    assert [i["book_id"] for i in after["items"]] == [i["book_id"] for i in popular["items"]]
    set_consent(library, reader_id=pseudonym, consented=True, at=int(time.time()) + 1)
    assert same_answer(client, "R105", k=4).json()["strategy"] == "personalized"


@pytest.fixture
def db_client(
    engine: Engine, db_settings: Settings, trained: Trained
) -> Iterator[Callable[[], TestClient]]:
    """The app on the `engine` fixture's database (SQLite file, or PostgreSQL when set)."""
    settings = service_settings_for(db_settings)
    fill_database(engine, PSEUDONYM_KEY, trained)
    publish_model(settings.models_dir, trained)
    with TestClient(create_app(settings)) as client:
        wait_until(
            lambda: client.get("/health/ready").status_code == 200,
            what="the service to be ready",
        )
        yield lambda: client


def test_front_door_on_each_database(
    db_client: Callable[[], TestClient], db_settings: Settings
) -> None:
    client = all_lists_ready(db_client())
    for reader in READERS:
        for params in FILTER_CASES[:4]:
            same_answer(client, reader, k=5, **params)
    assert fast_path_of(client).answered >= len(READERS)
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R211")
    assert same_answer(client, "R211").json()["strategy"] == "personalized"
    other = make_engine(db_settings)  # as the CLI would, in another process
    try:
        set_consent(other, reader_id=pseudonym, consented=False, at=int(time.time()))
        committed = time.time()
    finally:
        other.dispose()
    seen_within(
        lambda: reader_get(client, "R211").json()["strategy"] == "fallback:popular",
        since=committed,
        what="the objection",
    )
    assert same_answer(client, "R211").json()["strategy"] == "fallback:popular"


def test_front_door_over_real_http(live_server: str) -> None:
    headers = {"X-API-Key": READER_KEY}
    with httpx.Client(base_url=live_server, headers=headers) as http:
        for reader in READERS:
            for params in (*FILTER_CASES, {"k": 0}, {"audience": "elderly"}):
                url = f"/readers/{reader}/recommendations"
                fast = http.get(url, params={"k": 6, **params})
                route = http.get(url, params={"k": 6, **params, **ROUTE})
                assert (fast.status_code, fast.content) == (route.status_code, route.content)
                assert fast.headers.get("cache-control") == route.headers.get("cache-control")
        metrics = http.get("/metrics").text
    assert 'endpoint="reader",strategy="personalized"' in metrics
    assert 'route="/readers/{reader_id}/recommendations"' in metrics


def test_a_new_model_is_served_by_the_front_door(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = fresh_client
    run_id = publish_model(service_settings.models_dir, trained)
    wait_until(
        lambda: reader_get(client, "R105").json()["model_version"] == run_id,
        what=f"the front door to answer with {run_id}",
    )
    before = fast_path_of(client).answered
    same_answer(client, "R105")
    assert fast_path_of(client).answered == before + 1


def test_a_kept_list_is_replayed_only_for_the_same_loans(
    fresh_client: TestClient, library: Engine
) -> None:
    client = all_lists_ready(fresh_client)
    path = fast_path_of(client)
    first = same_answer(client, "R105", k=3)
    kept = client.app.state.caches.reader  # type: ignore[attr-defined]
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R105")
    assert (pseudonym, ListQuery(k=3)) in kept.recent_keys()
    assert reader_get(client, "R105", k=3).content == first.content
    top = first.json()["items"][0]["book_id"]
    with library.begin() as connection:  # a loan the model knows nothing of, dated in its past
        connection.execute(
            insert(loans).values(reader_id=pseudonym, book_id=top, borrowed_at=START, event="loan")
        )
    before = path.answered
    after = same_answer(client, "R105", k=3)
    assert path.answered == before + 1
    assert top not in {item["book_id"] for item in after.json()["items"]}


def test_cheap_lists_step_aside_until_the_readers_list_is_computed(trained: Trained) -> None:
    bundle = Bundle("test-run", Path("."), {}, trained.model, trained.catalog, trained.holdings)
    served = build_served(bundle, None, min_readers=2)  # background precompute not started
    reader = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R105")

    def ranking(*, cheap: bool) -> RankedList:
        return reader_list(
            served,
            no_rules(len(served.catalog)),
            reader=reader,
            history=EMPTY_HISTORY,
            query=ListQuery(k=3),
            cheap=cheap,
        )

    with pytest.raises(NotReady):
        ranking(cheap=True)
    full = ranking(cheap=False)  # waits for the batch that scores R105
    cheap = ranking(cheap=True)
    assert cheap.positions.tolist() == full.positions.tolist()
    assert (cheap.reasons, cheap.strategy) == (full.reasons, "personalized")


def test_the_previous_model_stands_in_only_while_lists_are_computed(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = all_lists_ready(fresh_client)
    store = client.app.state.store  # type: ignore[attr-defined]
    old = store.served
    assert store.stand_in() is None  # the first model has no predecessor
    # a bundle without precomputed lists: the new model computes them after it is served
    run_id = publish_model(service_settings.models_dir, trained, lists=False)
    wait_until(lambda: store.served.version == run_id, what=f"the service to serve {run_id}")
    assert store.stand_in() in (old, None)  # None once the new lists are all in
    versions = {reader_get(client, "R105").json()["model_version"] for _ in range(3)}
    assert versions <= {old.version, run_id}
    all_lists_ready(client)
    assert store.stand_in() is None
    # and once the new model's lists are rendered for every worker (`recsys.service.replay`)
    warmer = client.app.state.warmer  # type: ignore[attr-defined]
    wait_until(lambda: not warmer.pending, what="the new model's lists rendered")
    assert reader_get(client, "R105").json()["model_version"] == run_id


def serves(store: ModelStore, run_id: str) -> bool:
    return store.served is not None and store.served.version == run_id


def test_a_replaced_model_is_let_go_once_the_new_one_has_every_list(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    """A worker keeps one model after a swap, not every model it ever served: each holds
    private memory (its catalog and reader indexes) that would otherwise outlive it."""
    client = all_lists_ready(fresh_client)
    state = client.app.state  # type: ignore[attr-defined]
    replaced = []
    for _ in range(2):
        replaced.append(weakref.ref(state.store.served))
        run_id = publish_model(service_settings.models_dir, trained)
        wait_until(partial(serves, state.store, run_id), what=f"serving {run_id}")
        wait_until(lambda: not state.warmer.pending, what="the new model's lists rendered")
        assert reader_get(client, "R105").json()["model_version"] == run_id
    gc.collect()
    assert [model() for model in replaced] == [None, None]
    assert state.store.stand_in() is None


def test_a_bundle_with_its_lists_serves_every_reader_at_once(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = all_lists_ready(fresh_client)
    store = client.app.state.store  # type: ignore[attr-defined]
    run_id = publish_model(service_settings.models_dir, trained)
    wait_until(lambda: store.served.version == run_id, what=f"the service to serve {run_id}")
    served = store.served
    assert served.readers.complete and served.similar.done == len(served.similar)
    assert store.stand_in() is None  # nothing to stand in for
    path = fast_path_of(client)
    before = path.answered
    for reader in READERS:
        assert same_answer(client, reader, k=4).json()["model_version"] == run_id
    assert path.answered == before + len(READERS)
