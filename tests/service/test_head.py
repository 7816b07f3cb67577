"""HEAD answers every GET route with the GET's status and headers and no body (RFC 9110)."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from .service_library import ADMIN_KEY, READER_KEY, metric_value
from .test_front_readers import all_lists_ready, fast_path_of

#: Values for the path parameters of the GET routes (the tiny library's ids).
PATH_VALUES = {"reader_id": "R105", "book_id": "B000"}
#: Routes whose body (so its length) changes from one request to the next.
VOLATILE = {"/metrics"}


def get_paths(http: TestClient | httpx.Client) -> list[str]:
    """Every GET route of the OpenAPI document with its parameters filled, the documentation
    page and the files it loads from the service."""
    spec = http.get("/openapi.json").json()
    templates = [path for path, operations in spec["paths"].items() if "get" in operations]
    assert {"/health/live", "/readers/{reader_id}/recommendations", "/metrics"} <= set(templates)
    filled = [re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], "x"), t) for t in templates]
    assets = re.findall(r'(?:src|href)="(/[^/"][^"]*)"', http.get("/docs").text)
    return [*filled, "/openapi.json", "/docs", *assets]


def assert_head_is_get_without_body(
    http: TestClient | httpx.Client, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    key = ADMIN_KEY if path.startswith("/admin") else READER_KEY
    sent = {"X-API-Key": key, **(headers or {})}
    get = http.get(path, headers=sent)
    head = http.head(path, headers=sent)
    assert head.status_code == get.status_code != 405, path
    assert head.content == b"", path
    ignored = {"date"} | ({"content-length"} if path in VOLATILE else set())
    assert {k: v for k, v in head.headers.items() if k not in ignored} == {
        k: v for k, v in get.headers.items() if k not in ignored
    }, path
    return head


def test_head_answers_every_get_route(client: TestClient) -> None:
    all_lists_ready(client)
    for path in get_paths(client):
        assert_head_is_get_without_body(client, path)
    assert client.head("/health/live").headers["content-length"] == str(
        len(client.get("/health/live").content)
    )


def test_head_goes_through_the_fast_paths_and_etags(fresh_client: TestClient) -> None:
    client = all_lists_ready(fresh_client)
    fast = fast_path_of(client)
    before = fast.answered
    assert_head_is_get_without_body(client, "/readers/R105/recommendations?k=3")
    assert fast.answered == before + 2  # the GET and the HEAD were answered before routing
    etag = client.get("/books/B000/similar").headers["etag"]
    cached = assert_head_is_get_without_body(client, "/books/B000/similar")  # replayed
    assert cached.headers["etag"] == etag
    not_modified = client.head("/books/B000/similar", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    metrics = client.get("/metrics").text
    live = {"route": "/readers/{reader_id}/recommendations", "status": "200"}
    assert metric_value(metrics, "recsys_http_requests_total", method="HEAD", **live) == 1


def test_head_on_a_route_without_get_is_refused_like_get(client: TestClient) -> None:
    assert client.get("/admin/reload").status_code == 405
    refused = client.head("/admin/reload")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"


def test_head_over_real_http(live_server: str) -> None:
    with httpx.Client(base_url=live_server) as http:
        for path in get_paths(http):
            assert_head_is_get_without_body(http, path)
