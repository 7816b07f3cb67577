"""Fixtures of the privacy tests: settings with a real key file, rows written straight to the store.

The `engine` fixture is the root one (SQLite file, and PostgreSQL when configured).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from recsys.columns import Columns as C
from recsys.config import Settings, get_settings, write_key_file
from recsys.db.engine import make_engine
from recsys.db.tables import loans, views
from recsys.nightly.progress import Progress
from recsys.nightly.runner import run_nightly
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, SampleLibrary, generate_library, write_library
from recsys.service.app import create_app

KEY = b"0123456789abcdef" * 4


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The root settings, with the key in a 0600 key file (rotation keeps its chain there)."""
    key_file = tmp_path / "secrets" / "pseudonym.key"
    write_key_file(key_file, KEY)
    return settings.model_copy(update={"pseudonym_key": None, "pseudonym_key_file": key_file})


@pytest.fixture
def add_loans(engine: Engine) -> Callable[[list[tuple[str, str, int]]], None]:
    """Store loans `(reader pseudonym, book_id, borrowed_at)` directly."""

    def add(rows: list[tuple[str, str, int]]) -> None:
        with engine.begin() as connection:
            connection.execute(
                insert(loans),
                [
                    {"reader_id": r, "book_id": b, "borrowed_at": t, "event": "loan"}
                    for r, b, t in rows
                ],
            )

    return add


@pytest.fixture
def add_views(engine: Engine) -> Callable[[list[tuple[str, str, int, str | None]]], None]:
    """Store views `(session_id, book_id, viewed_at, reader pseudonym or None)` directly."""

    def add(rows: list[tuple[str, str, int, str | None]]) -> None:
        with engine.begin() as connection:
            connection.execute(
                insert(views),
                [
                    {"session_id": s, "book_id": b, "viewed_at": t, "reader_id": r}
                    for s, b, t, r in rows
                ],
            )

    return add


def point_cli_at(
    settings: Settings, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the CLI's settings (read from the environment) at a store, folders and key file."""
    monkeypatch.delenv("RECSYS_PSEUDONYM_KEY", raising=False)
    if database_url is None:
        monkeypatch.delenv("RECSYS_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("RECSYS_DATABASE_URL", database_url)
    monkeypatch.setenv("RECSYS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("RECSYS_PSEUDONYM_KEY_FILE", str(settings.pseudonym_key_file))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def cli_env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI pointed at the test's store and key file."""
    yield from point_cli_at(settings, engine.url.render_as_string(hide_password=False), monkeypatch)


API_KEYS = "privacy-reader-key-0123456789:reader,privacy-admin-key-0123456789:admin"
READER_HEADERS = {"X-API-Key": "privacy-reader-key-0123456789"}
ADMIN_HEADERS = {"X-API-Key": "privacy-admin-key-0123456789"}
SITE_LOANS = 1_500


@dataclass
class Site:
    """A library after one nightly run: sample exports ingested, a model trained and published."""

    root: Path
    settings: Settings
    library: SampleLibrary
    opened: list[Any] = field(default_factory=list)
    reader_headers: dict[str, str] = field(default_factory=lambda: dict(READER_HEADERS))
    admin_headers: dict[str, str] = field(default_factory=lambda: dict(ADMIN_HEADERS))

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings)
        self.opened.append(engine)
        return engine

    def pseudonym(self, raw: str) -> str:
        return Pseudonymizer(self.settings.pseudonym_key_bytes()).pseudonymize(raw)

    def busiest_readers(self, n: int) -> list[str]:
        """Raw ids of the readers with the most loans (the model surely knows them)."""
        counts = self.library.loans[C.READER_ID].astype(str).value_counts()
        return counts.index[:n].tolist()

    def client(self, **overrides: Any) -> TestClient:
        """A started app (lifespan run, published model loaded) with `overrides` applied."""
        client = TestClient(create_app(self.settings.model_copy(update=overrides)))
        client.__enter__()
        self.opened.append(client)
        client.app.state.store.refresh()  # type: ignore[attr-defined]
        return client

    def close(self) -> None:
        for resource in reversed(self.opened):
            if isinstance(resource, TestClient):
                resource.__exit__(None, None, None)
            else:
                resource.dispose()


def site_settings(root: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=None,
        data_dir=root / "data",
        models_dir=root / "models",
        pseudonym_key=None,
        pseudonym_key_file=root / "secrets" / "pseudonym.key",
        api_keys=API_KEYS,
        api_keys_file=root / "secrets" / "absent",
        retention_days=36_500,
        max_volume_drop=1.0,
        model_poll_seconds=3_600,
    )


@pytest.fixture(scope="session")
def site_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One nightly on the sample library, done once; tests work on copies."""
    root = tmp_path_factory.mktemp("privacy-site")
    settings = site_settings(root)
    write_key_file(settings.pseudonym_key_file, KEY)
    write_library(generate_library(SampleConfig(n_loans=SITE_LOANS, seed=11)), settings.inbox_dir)
    code, summary = run_nightly(settings, progress=Progress("none"))
    assert code == 0, summary
    return root


@pytest.fixture
def site(site_template: Path, tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "site"
    shutil.copytree(site_template, root)
    site = Site(root, site_settings(root), generate_library(SampleConfig(SITE_LOANS, seed=11)))
    yield site
    site.close()
