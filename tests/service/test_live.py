"""The service over real HTTP: uvicorn on loopback, and a schemathesis fuzz of its OpenAPI."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.service.app import create_app

from .service_library import ADMIN_KEY, READER_KEY, wait_until

FUZZ_KEY = "fuzz-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, access_log=False, log_level="warning"
    )
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


def test_real_http_on_loopback(live_server: str) -> None:
    with httpx.Client(base_url=live_server) as http:
        assert http.get("/health/live").json() == {"status": "ok"}
        reader = http.get(
            "/readers/R105/recommendations", params={"k": 3}, headers={"X-API-Key": READER_KEY}
        )
        assert reader.status_code == 200 and len(reader.json()["items"]) == 3
        book = http.get("/books/B100/similar")
        assert book.status_code == 200
        assert (
            http.get(
                "/books/B100/similar", headers={"If-None-Match": book.headers["etag"]}
            ).status_code
            == 304
        )
        assert http.get("/docs").status_code == 200
        spec = http.get("/openapi.json").json()
        summaries = {op["summary"] for path in spec["paths"].values() for op in path.values()}
        assert "Books recommended for one reader; readers without loans get popular books." in (
            summaries
        )


@pytest.mark.slow
def test_openapi_fuzz_finds_no_server_error(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    failures: list[str] = []
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            for headers in ({"X-API-Key": FUZZ_KEY}, {}):
                response = case.call(base_url=live_server, headers=headers)
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> "
                        f"{response.status_code}: {response.text[:200]}"
                    )

        fuzz()
    assert failures == []
    assert len(statuses) > 100 and {200, 422} <= set(statuses)  # it did exercise the routes
