"""A published bundle whose files are corrupted is noticed, reported and replaced by the newest
valid run; no answer shows a file path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recsys import artifacts
from recsys.config import Settings

from .service_library import (
    ADMIN_KEY,
    Trained,
    metric_value,
    publish_model,
    reader_get,
    wait_until,
)

CHECKSUMS = "its files are missing or do not match the checksums in its manifest"
ADMIN = {"X-API-Key": ADMIN_KEY}


def corrupt(models_dir: Path, run_id: str) -> Path:
    """Overwrite the run's factors as a bad disk or copy would."""
    target = next((artifacts.run_path(models_dir, run_id) / artifacts.MODEL_DIR).rglob("*.npy"))
    target.write_bytes(b"corrupted on disk")
    return target


def served_version(client: TestClient) -> str | None:
    response = client.get("/version")
    return response.json()["model_version"] if response.status_code == 200 else None


def assert_no_filesystem_detail(text: str, settings: Settings) -> None:
    for detail in (str(settings.models_dir), str(settings.models_dir.parent), "runs/", ".npy"):
        assert detail not in text


def store_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "recsys.service.model_store" and r.levelno >= logging.ERROR
    ]


def test_admin_reload_notices_a_corrupted_served_run_and_falls_back(
    make_client: Callable[..., TestClient],
    service_settings: Settings,
    trained: Trained,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = service_settings.model_copy(update={"model_poll_seconds": 3600})  # no poll
    client = make_client(settings)
    first = served_version(client)
    second = publish_model(settings.models_dir, trained)
    assert client.post("/admin/reload", headers=ADMIN).json()["outcome"] == "swapped"
    target = corrupt(settings.models_dir, second)

    reload = client.post("/admin/reload", headers=ADMIN)
    assert reload.json() == {
        "outcome": "refused",
        "model_version": first,
        "detail": f"published run {second} refused: {CHECKSUMS}; serving run {first}, the "
        "newest valid run",
    }
    assert served_version(client) == first
    assert reader_get(client, "R105").json()["model_version"] == first
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == first
    assert ready.json()["detail"] == reload.json()["detail"]
    metrics = client.get("/metrics").text
    assert metric_value(metrics, "recsys_model_published_refused") == 1
    assert metric_value(metrics, "recsys_model_swaps_total", outcome="fallback") == 1
    assert metric_value(metrics, "recsys_model_swaps_total", outcome="refused") == 1
    for text in (reload.text, ready.text):
        assert_no_filesystem_detail(text, settings)
    [line] = store_errors(caplog)  # one line, with the full reason for the operator
    assert f"published run {second} refused" in line and f"serving run {first} instead" in line
    assert str(target) in line


def test_the_poll_notices_a_corrupted_served_run(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = fresh_client
    first = served_version(client)
    second = publish_model(service_settings.models_dir, trained)
    wait_until(lambda: served_version(client) == second, what="the new run")
    corrupt(service_settings.models_dir, second)
    wait_until(lambda: served_version(client) == first, what="the fallback to the first run")
    ready = client.get("/health/ready").json()
    assert ready["detail"].startswith(f"published run {second} refused: {CHECKSUMS}")
    assert metric_value(client.get("/metrics").text, "recsys_model_published_refused") == 1


def test_a_fresh_start_serves_previous_when_current_is_corrupted(
    make_client: Callable[..., TestClient],
    library: Engine,
    service_settings: Settings,
    trained: Trained,
) -> None:
    models_dir = service_settings.models_dir
    previous = artifacts.current_run_id(models_dir)
    current = publish_model(models_dir, trained)
    corrupt(models_dir, current)
    client = make_client(service_settings, ready=False)
    wait_until(lambda: client.get("/health/ready").status_code == 200, what="the fallback")
    assert served_version(client) == previous
    assert reader_get(client, "R105").status_code == 200
    assert client.get("/books/B000/similar").status_code == 200
    ready = client.get("/health/ready").json()
    assert ready["detail"] == (
        f"published run {current} refused: {CHECKSUMS}; serving run {previous}, the newest "
        "valid run"
    )


def test_the_fallback_skips_corrupt_and_unpublished_runs(
    make_client: Callable[..., TestClient],
    library: Engine,
    service_settings: Settings,
    trained: Trained,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models_dir = service_settings.models_dir
    oldest = artifacts.current_run_id(models_dir)
    previous = publish_model(models_dir, trained)
    current = publish_model(models_dir, trained)
    never_published = artifacts.new_run_id()  # newer than all, e.g. refused by the gate
    artifacts.save_bundle(
        models_dir,
        never_published,
        trained.model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=0,
    )
    corrupt(models_dir, current)
    corrupt(models_dir, previous)
    client = make_client(service_settings, ready=False)
    wait_until(lambda: client.get("/health/ready").status_code == 200, what="the fallback")
    assert served_version(client) == oldest
    [line] = store_errors(caplog)
    assert f"serving run {oldest} instead" in line and f"refused too: run {previous}" in line


def test_without_a_valid_run_nothing_is_served_and_readiness_says_why(
    make_client: Callable[..., TestClient], library: Engine, service_settings: Settings
) -> None:
    models_dir = service_settings.models_dir
    only = artifacts.current_run_id(models_dir)
    assert only is not None
    corrupt(models_dir, only)
    client = make_client(service_settings, ready=False)
    wait_until(
        lambda: metric_value(client.get("/metrics").text, "recsys_model_published_refused") == 1,
        what="the refusal",
    )
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["detail"] == (
        f"published run {only} refused: {CHECKSUMS}; no other run is valid, nothing is served"
    )
    reload = client.post("/admin/reload", headers=ADMIN)
    assert reload.json()["outcome"] == "refused" and reload.json()["model_version"] is None
    for text in (ready.text, reload.text):
        assert_no_filesystem_detail(text, service_settings)


def test_a_refused_run_is_retried_once_its_manifest_is_rewritten(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    """A repaired run (or one rewritten in place) is served again without an admin reload."""
    client = fresh_client
    models_dir = service_settings.models_dir
    first = served_version(client)
    second = publish_model(models_dir, trained)
    wait_until(lambda: served_version(client) == second, what="the new run")
    target = next((artifacts.run_path(models_dir, second) / artifacts.MODEL_DIR).rglob("*.npy"))
    good = target.read_bytes()
    corrupt(models_dir, second)
    wait_until(lambda: served_version(client) == first, what="the fallback")
    target.write_bytes(good)
    manifest = artifacts.run_path(models_dir, second) / artifacts.MANIFEST
    manifest.write_text(manifest.read_text() + "\n")
    wait_until(lambda: served_version(client) == second, what="the repaired run")
    assert client.get("/health/ready").json()["detail"] is None
    assert metric_value(client.get("/metrics").text, "recsys_model_published_refused") == 0
