"""Request bodies over RECSYS_MAX_BODY_BYTES are refused (413) before they are read."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from recsys.config import Settings

SESSION = "/sessions/recommendations"
LIMIT = 262_144  # the default of RECSYS_MAX_BODY_BYTES
TWENTY_MB = 20 * 1024 * 1024


def declared_too_large(size: int, limit: int = LIMIT) -> str:
    return (
        f"the request body has {size} bytes; at most {limit} are accepted (RECSYS_MAX_BODY_BYTES)"
    )


def streamed_too_large(limit: int = LIMIT) -> str:
    return (
        f"the request body has more than {limit} bytes; at most {limit} are accepted "
        "(RECSYS_MAX_BODY_BYTES)"
    )


def session_body(size: int) -> bytes:
    """A valid session request padded with spaces to exactly `size` bytes."""
    body = json.dumps({"book_ids": ["B000"], "k": 3}).encode()
    return body + b" " * (size - len(body))


def chunks(total: int, size: int = 16_384) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


def test_a_body_over_the_declared_limit_is_refused(client: TestClient) -> None:
    response = client.post(
        SESSION, content=b"[" * TWENTY_MB, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": declared_too_large(TWENTY_MB)}
    assert response.headers["connection"] == "close"


def test_a_streamed_body_is_refused_once_it_passes_the_limit(client: TestClient) -> None:
    response = client.post(
        SESSION, content=chunks(LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": streamed_too_large()}


def test_a_body_at_the_limit_is_answered(client: TestClient) -> None:
    response = client.post(
        SESSION, content=session_body(LIMIT), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200 and len(response.json()["items"]) == 3


def test_the_limit_is_a_setting(
    make_client: Callable[..., TestClient], service_settings: Settings
) -> None:
    client = make_client(service_settings.model_copy(update={"max_body_bytes": 2_048}))
    json_type = {"Content-Type": "application/json"}
    assert client.post(SESSION, content=session_body(2_048), headers=json_type).status_code == 200
    refused = client.post(SESSION, content=session_body(2_049), headers=json_type)
    assert refused.status_code == 413
    assert refused.json() == {"detail": declared_too_large(2_049, 2_048)}


def raw_request(base: str, head: str, body_parts: Iterator[bytes]) -> tuple[int, bytes]:
    """Send a request head and some body bytes over a socket; return the status line's code
    and the response, read without sending the rest of the body."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = sock.recv(65_536)  # a server waiting for the rest times out here
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1]), answer


def test_real_server_refuses_a_20_mb_body_before_it_is_sent(live_server: str) -> None:
    head = (
        f"POST {SESSION} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {TWENTY_MB}\r\n\r\n"
    )
    status, answer = raw_request(live_server, head, iter([b"[" * 1_000]))
    assert status == 413
    assert declared_too_large(TWENTY_MB).encode() in answer
    assert b"connection: close" in answer.lower()


def test_real_server_refuses_a_chunked_body_that_grows_past_the_limit(live_server: str) -> None:
    head = (
        f"POST {SESSION} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    parts = (b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks(LIMIT + 65_536, 65_536))
    status, answer = raw_request(live_server, head, parts)  # the last chunk is never sent
    assert status == 413
    assert streamed_too_large().encode() in answer
