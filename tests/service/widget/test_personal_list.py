"""docs/catalog/personal_list.py: a catalog's server fetching a reader's list with its key."""

from __future__ import annotations

import logging

import httpx
import pytest

from ..service_library import READER_KEY, free_port
from .widget_site import personal_list_snippet

READER = "R105"


def test_server_gets_the_readers_list_with_its_key(
    live_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    snippet = personal_list_snippet()
    items = snippet.personal_list(READER, service=live_server, api_key=READER_KEY, k=4)
    expected = httpx.get(
        f"{live_server}/readers/{READER}/recommendations",
        params={"k": 4},
        headers={"X-API-Key": READER_KEY},
    ).json()["items"]
    assert len(items) == 4 and items == expected

    with caplog.at_level(logging.WARNING):
        refused = snippet.personal_list(READER, service=live_server, api_key="wrong-key-0123456")
    assert refused == []
    assert "recsys personal list unavailable: HTTPError" in caplog.text
    assert READER not in caplog.text


def test_unreachable_service_gives_no_list() -> None:
    snippet = personal_list_snippet()
    down = f"http://127.0.0.1:{free_port()}"
    assert snippet.personal_list(READER, service=down, api_key=READER_KEY, timeout=1.0) == []


def test_rendered_list_links_records_and_escapes_text() -> None:
    snippet = personal_list_snippet()
    html = snippet.render_list(
        [{"book_id": "B 1/2", "title": "<i>Tale</i> & co", "author": None}],
        record_url="https://opac.example.org/record?id={book_id}",
        heading="Für Sie",
    )
    assert 'href="https://opac.example.org/record?id=B%201%2F2"' in html
    assert "&lt;i&gt;Tale&lt;/i&gt; &amp; co" in html and "<i>" not in html
    assert html.startswith('<div class="recsys-list" data-mode="personal">')
    assert snippet.render_list([], record_url="/r/{book_id}", heading="x") == ""
