"""Auth scopes, health and readiness, version, metrics, admin reload and the hot swap."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from recsys import artifacts
from recsys.config import Settings
from recsys.service.app import create_app

from .service_library import (
    ADMIN_KEY,
    PSEUDONYM_KEY,
    READER_KEY,
    Trained,
    build_loans,
    fit_model,
    metric_value,
    publish_model,
    reader_get,
    wait_until,
)

PATH = "/readers/R105/recommendations"


def test_reader_routes_need_a_reader_key(client: TestClient) -> None:
    missing = client.get(PATH)
    assert missing.status_code == 401
    assert missing.json()["detail"] == "this route needs an X-API-Key header with scope 'reader'"
    unknown = client.get(PATH, headers={"X-API-Key": "guess"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "the X-API-Key header holds an unknown key"
    admin_only = client.get(PATH, headers={"X-API-Key": ADMIN_KEY})
    assert admin_only.status_code == 403
    assert admin_only.json()["detail"] == "this API key lacks scope 'reader'"
    assert client.get(PATH, headers={"X-API-Key": READER_KEY}).status_code == 200


def test_admin_routes_need_an_admin_key(client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"X-API-Key": READER_KEY}).status_code == 403
    response = client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"


def test_public_routes_are_open_by_default(client: TestClient) -> None:
    assert client.get("/books/B000/similar").status_code == 200
    assert client.get("/popular").status_code == 200
    assert client.post("/sessions/recommendations", json={"book_ids": []}).status_code == 200


def test_book_routes_can_require_a_key(
    make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    client = make_client(service_settings.model_copy(update={"public_book_routes": False}))
    assert client.get("/books/B000/similar").status_code == 401
    assert client.get("/popular").status_code == 401
    assert client.post("/sessions/recommendations", json={"book_ids": []}).status_code == 401
    assert client.get("/books/B000/similar", headers={"X-API-Key": READER_KEY}).status_code == 200


def test_without_configured_keys_reader_routes_stay_closed(
    make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    client = make_client(service_settings.model_copy(update={"api_keys": None}))
    response = client.get(PATH, headers={"X-API-Key": READER_KEY})
    assert response.status_code == 401
    assert "none is configured (set RECSYS_API_KEYS" in response.json()["detail"]
    assert client.get("/books/B000/similar").status_code == 200


def test_cors_allow_list(
    make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    client = make_client(
        service_settings.model_copy(update={"cors_origins": ["https://opac.example.org"]})
    )
    allowed = client.get("/popular", headers={"Origin": "https://opac.example.org"})
    assert allowed.headers["access-control-allow-origin"] == "https://opac.example.org"
    other = client.get("/popular", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_not_ready_until_a_model_is_published(
    make_client: Callable[..., TestClient],
    service_settings: Settings,
    trained: Trained,
    tmp_path: Path,
) -> None:
    settings = service_settings.model_copy(update={"models_dir": tmp_path / "empty-models"})
    client = make_client(settings, ready=False)
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["model_loaded"] is False and ready.json()["database"] is True
    assert client.get("/version").status_code == 503
    assert client.get("/books/B000/similar").status_code == 503
    run_id = publish_model(settings.models_dir, trained)
    wait_until(lambda: client.get("/health/ready").status_code == 200, what="the first model")
    assert client.get("/version").json()["model_version"] == run_id


def test_not_ready_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient], service_settings: Settings, tmp_path: Path
) -> None:
    """A model is loaded (popular lists fall back to the model) but the store is unreachable."""
    settings = service_settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    )
    client = make_client(settings, ready=False)
    wait_until(lambda: client.get("/health/ready").json()["model_loaded"], what="the model")
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] is False
    assert ready.json()["detail"] == "the database does not answer"
    response = reader_get(client, "R105")
    assert response.status_code == 503
    assert response.json()["detail"] == "the database does not answer; try again shortly"
    assert client.get("/books/B000/similar").status_code == 200


def test_a_worker_leaves_what_it_imported_out_of_full_garbage_collections(
    client: TestClient,
) -> None:
    """A full collection holds up every request; it should not walk the modules, classes and
    schemas every worker holds for its whole life (a model load sets one off)."""
    assert client.get("/health/live").status_code == 200
    assert gc.get_freeze_count() > 10_000
    assert all(found is not create_app for found in gc.get_objects(generation=2))


def test_version_names_the_model(client: TestClient) -> None:
    body = client.get("/version").json()
    assert body["model"] == "hybrid" and body["params"]["factors"] == 8
    assert body["model_version"] == artifacts.RUN_ID_PATTERN.match(body["model_version"]).string


def test_metrics_count_routes_strategies_and_model(fresh_client: TestClient) -> None:
    client = fresh_client
    reader_get(client, "R105")
    reader_get(client, "someone-new")
    client.get("/books/B000/similar")
    assert client.request("PROPFIND", "/popular").status_code == 405
    text = client.get("/metrics").text
    version = client.get("/version").json()["model_version"]
    assert (  # a method of the client's choosing never becomes a new series
        metric_value(
            text, "recsys_http_requests_total", route="/popular", method="other", status="405"
        )
        == 1
    )
    reader_route = "/readers/{reader_id}/recommendations"
    assert (
        metric_value(
            text, "recsys_http_requests_total", route=reader_route, method="GET", status="200"
        )
        == 2
    )
    assert (
        metric_value(
            text, "recsys_recommendations_total", endpoint="reader", strategy="personalized"
        )
        == 1
    )
    assert metric_value(text, "recsys_fallbacks_total") == 1
    assert metric_value(text, "recsys_model_info", version=version, model="hybrid") == 1
    assert (
        metric_value(
            text, "recsys_http_request_duration_seconds_count", route="/books/{book_id}/similar"
        )
        == 1
    )
    assert metric_value(text, "recsys_model_published_refused") == 0
    assert "R105" not in text and "someone-new" not in text


def test_metrics_count_readers_states_read_from_the_store(fresh_client: TestClient) -> None:
    client = fresh_client

    def reads() -> list[float | None]:
        text = client.get("/metrics").text
        return [
            metric_value(text, "recsys_reader_state_reads_total", reason=reason)
            for reason in ("not_kept", "not_vouched")
        ]

    before = reads()
    assert None not in before
    assert reader_get(client, "never-borrowed").status_code == 200  # a first ask: read
    after_first = reads()
    assert after_first == [before[0] + 1, before[1]]  # type: ignore[operator]
    assert reader_get(client, "never-borrowed").status_code == 200  # kept since
    assert reads() == after_first


def other_model(trained: Trained) -> object:
    return fit_model(
        build_loans(), trained.catalog, trained.holdings, PSEUDONYM_KEY, random_state=99
    )


def test_hot_swap_serves_a_newly_published_model(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = fresh_client
    old = client.get("/version").json()["model_version"]
    failures: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for response in (reader_get(client, "R105"), client.get("/books/B100/similar")):
                if response.status_code != 200:
                    failures.append(response.status_code)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        published = []
        for _ in range(3):
            run_id = publish_model(service_settings.models_dir, trained, other_model(trained))
            published.append(run_id)
            wait_until(
                lambda r=run_id: client.get("/version").json()["model_version"] == r,
                what=f"the service to serve {run_id}",
            )
    finally:
        stop.set()
        worker.join()
    assert failures == []
    assert old not in published
    etag = client.get("/books/B100/similar").headers["etag"]
    assert etag.startswith(f'"{published[-1]}-')
    assert (
        metric_value(client.get("/metrics").text, "recsys_model_swaps_total", outcome="swapped")
        == 4
    )


def test_a_corrupt_new_model_is_refused_and_the_old_keeps_serving(
    fresh_client: TestClient,
    service_settings: Settings,
    trained: Trained,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = fresh_client
    models_dir = service_settings.models_dir
    old = client.get("/version").json()["model_version"]
    bad = artifacts.new_run_id()
    artifacts.save_bundle(
        models_dir,
        bad,
        trained.model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=0,
        manifest_extra={},
    )
    target = next((artifacts.run_path(models_dir, bad) / "model").rglob("*.npy"))
    target.write_bytes(b"corrupted after publishing")
    (models_dir / artifacts.CURRENT).write_text(bad + "\n")  # as a bad disk copy would leave it
    wait_until(
        lambda: (
            metric_value(client.get("/metrics").text, "recsys_model_swaps_total", outcome="refused")
            == 1
        ),
        what="the refusal",
    )
    assert client.get("/version").json()["model_version"] == old
    assert reader_get(client, "R105").status_code == 200
    reload = client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY}).json()
    assert reload["outcome"] == "refused" and reload["model_version"] == old
    assert reload["detail"] == (
        f"published run {bad} refused: its files are missing or do not match the checksums in "
        f"its manifest; serving run {old}"
    )
    assert any(
        f"run {bad} refused" in r.getMessage() and f"{target.name} does not match" in r.getMessage()
        for r in caplog.records
    )


def test_a_missing_new_run_is_refused(fresh_client: TestClient, service_settings: Settings) -> None:
    client = fresh_client
    old = client.get("/version").json()["model_version"]
    (service_settings.models_dir / artifacts.CURRENT).write_text("20300101T000000Z-dead\n")
    reload = client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY}).json()
    assert reload["outcome"] == "refused" and "does not exist" in reload["detail"]
    assert client.get("/version").json()["model_version"] == old


def test_settings_without_a_pseudonym_key_refuse_to_start(
    service_settings: Settings, tmp_path: Path
) -> None:
    from recsys.exceptions import ConfigurationError
    from recsys.service.app import create_app

    settings = service_settings.model_copy(update={"pseudonym_key": SecretStr("short")})
    with pytest.raises(ConfigurationError, match="at least 32 are required"):
        create_app(settings)
