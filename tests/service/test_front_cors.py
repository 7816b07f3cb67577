"""The front door sits outside the middleware stack: for the lists it answers it does what the
stack would, so an answer is the same whoever gives it (CORS headers for an allowed origin, none
for another), and a request with a body is left to the stack."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from recsys.config import Settings

from .service_library import READER_KEY
from .test_front_readers import ROUTE, all_lists_ready, fast_path_of

ALLOWED = "https://opac.example.org"
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-allow-credentials",
    "vary",
)
LISTS = [
    ("/books/B000/similar", {"k": 4}),
    ("/popular", {"k": 3}),
    ("/readers/R105/recommendations", {"k": 5}),
]


@pytest.fixture
def cors_client(make_client: Callable[..., TestClient], service_settings: Settings) -> TestClient:
    settings = service_settings.model_copy(update={"cors_origins": [ALLOWED]})
    return all_lists_ready(make_client(settings))


@pytest.mark.parametrize("origin", [ALLOWED, "https://elsewhere.example"])
@pytest.mark.parametrize(("path", "params"), LISTS)
def test_cross_origin_answers_at_the_front_door_are_the_stacks(
    cors_client: TestClient, origin: str, path: str, params: dict[str, object]
) -> None:
    client = cors_client
    front_door = fast_path_of(client)
    headers = {"Origin": origin, "X-API-Key": READER_KEY}
    before = front_door.answered
    fast = client.get(path, params=params, headers=headers)
    assert front_door.answered == before + 1
    stack = client.get(path, params={**params, **ROUTE}, headers=headers)
    assert front_door.answered == before + 1
    assert fast.status_code == stack.status_code == 200
    assert fast.content == stack.content
    for name in CORS_HEADERS:
        assert fast.headers.get(name) == stack.headers.get(name), name
    allowed = fast.headers.get("access-control-allow-origin")
    assert allowed == (ALLOWED if origin == ALLOWED else None)


def test_without_cors_a_cross_origin_request_is_answered_at_the_front_door_without_its_headers(
    fresh_client: TestClient,
) -> None:
    client = all_lists_ready(fresh_client)
    front_door = fast_path_of(client)
    for path, params in LISTS:
        before = front_door.answered
        headers = {"Origin": ALLOWED, "X-API-Key": READER_KEY}
        fast = client.get(path, params=params, headers=headers)
        assert front_door.answered == before + 1, path
        stack = client.get(path, params={**params, **ROUTE}, headers=headers)
        assert fast.status_code == stack.status_code == 200
        assert fast.content == stack.content
        assert "access-control-allow-origin" not in fast.headers


def test_a_list_request_with_a_body_is_left_to_the_stack(cors_client: TestClient) -> None:
    client = cors_client
    front_door = fast_path_of(client)
    before = front_door.answered
    response = client.request(
        "GET", "/books/B000/similar", content=b"x" * 10, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert front_door.answered == before
    assert client.get("/books/B000/similar").content == response.content
    assert front_door.answered == before + 1
