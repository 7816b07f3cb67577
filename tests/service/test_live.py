"""The service over real HTTP: uvicorn on loopback, and a schemathesis fuzz of its OpenAPI."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from .service_library import FUZZ_KEY, READER_KEY


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
