"""Fixtures of the service tests: the tiny library in a SQLite file, a published bundle, the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.service.app import create_app

from .service_library import (
    ADMIN_KEY,
    FUZZ_KEY,
    PSEUDONYM_KEY,
    READER_KEY,
    Trained,
    fill_database,
    publish_model,
    service_settings_for,
    train_default,
    uvicorn_on_loopback,
    wait_until,
)


@pytest.fixture(scope="session")
def trained() -> Trained:
    return train_default()


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return service_settings_for(settings)


@pytest.fixture
def library(service_settings: Settings, trained: Trained) -> Iterator[Engine]:
    """The database filled with the tiny library, and one published bundle."""
    engine = make_engine(service_settings)
    upgrade(engine)
    fill_database(engine, PSEUDONYM_KEY, trained)
    publish_model(service_settings.models_dir, trained)
    yield engine
    engine.dispose()


@pytest.fixture
def make_client(library: Engine) -> Iterator[Callable[..., TestClient]]:
    """Start the app (lifespan included) with given settings; wait until ready unless told."""
    clients: list[TestClient] = []

    def start(settings: Settings, *, ready: bool = True) -> TestClient:
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        if ready:
            wait_until(
                lambda: client.get("/health/ready").status_code == 200,
                what="the service to be ready",
            )
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def fresh_client(make_client: Callable[..., TestClient], service_settings: Settings) -> TestClient:
    """An app of its own, for tests that publish, reconfigure or count metrics."""
    return make_client(service_settings)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, trained: Trained) -> Iterator[TestClient]:
    """One running app per module for the read-only tests."""
    root = tmp_path_factory.mktemp("service")
    settings = service_settings_for(
        Settings(
            _env_file=None,
            data_dir=root / "data",
            models_dir=root / "models",
            pseudonym_key_file=root / "absent.key",
        )
    )
    engine = make_engine(settings)
    upgrade(engine)
    fill_database(engine, PSEUDONYM_KEY, trained)
    publish_model(settings.models_dir, trained)
    with TestClient(create_app(settings)) as client:
        wait_until(
            lambda: client.get("/health/ready").status_code == 200, what="the service to be ready"
        )
        yield client
    engine.dispose()


@pytest.fixture
def live_server(library: Engine, service_settings: Settings) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, in a thread; yields its base URL."""
    settings = service_settings.model_copy(
        update={
            "api_keys": SecretStr(
                f"{READER_KEY}:reader,{ADMIN_KEY}:admin,{FUZZ_KEY}:reader,{FUZZ_KEY}:admin"
            )
        }
    )
    with uvicorn_on_loopback(create_app(settings)) as base:
        yield base
