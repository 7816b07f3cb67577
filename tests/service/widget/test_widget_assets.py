"""The widget's files and the demo page as the service serves them (no browser needed)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from recsys.config import Settings
from recsys.integrations.widget.assets import demo_content_security_policy, demo_page
from recsys.service.app import create_app

KOHA_RECORD = "https://opac.example.org/cgi-bin/koha/opac-detail.pl?biblionumber={book_id}"
PLAIN = {"Accept-Encoding": "identity"}


def files_client(settings: Settings, **changes: object) -> TestClient:
    """An app for requests that need no model (the widget's files)."""
    return TestClient(create_app(settings.model_copy(update=changes)))


def embedded_config(script: str) -> dict[str, object]:
    match = re.search(r"var config = (\{.*?\});", script)
    assert match, "widget.js carries its configuration"
    config: dict[str, object] = json.loads(match.group(1))
    return config


def test_script_carries_the_settings_and_revalidates_by_etag(service_settings: Settings) -> None:
    client = files_client(
        service_settings, record_url_template=KOHA_RECORD, widget_timeout_seconds=2.5
    )
    first = client.get("/widget.js", headers=PLAIN)
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["cache-control"] == "public, max-age=3600"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert embedded_config(first.text) == {"record": KOHA_RECORD, "cover": None, "timeout": 2500}
    etag = first.headers["etag"]
    again = client.get("/widget.js", headers={**PLAIN, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = files_client(service_settings, record_url_template="/record/{book_id}")
    assert other.get("/widget.js", headers=PLAIN).headers["etag"] != etag


def test_files_are_gzipped_for_clients_that_accept_it(service_settings: Settings) -> None:
    client = files_client(service_settings)
    for path in ("/widget.js", "/widget.css"):
        plain = client.get(path, headers=PLAIN)
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        assert packed.content == plain.content  # decoded by the client
        assert packed.headers["etag"] != plain.headers["etag"]


def test_widget_fits_in_8_kb_gzipped(service_settings: Settings) -> None:
    client = files_client(
        service_settings,
        record_url_template=KOHA_RECORD,
        cover_url_template="/cgi-bin/koha/opac-image.pl?thumbnail=1&biblionumber={book_id}",
    )
    sizes = [
        len(gzip.compress(client.get(path, headers=PLAIN).content, compresslevel=9))
        for path in ("/widget.js", "/widget.css")
    ]
    assert sum(sizes) <= 8 * 1024, sizes


def test_stylesheet_reserves_taller_cards_when_covers_are_shown(
    service_settings: Settings,
) -> None:
    def card_height(**changes: object) -> str:
        css = files_client(service_settings, **changes).get("/widget.css", headers=PLAIN).text
        found = re.findall(r"--recsys-card-height: ([\d.]+em)", css)
        assert len(found) == 1
        return found[0]

    assert card_height() == "6.75em"
    assert card_height(cover_url_template="/covers/{book_id}.jpg") == "16.5em"


def test_openapi_documents_the_widget_files(service_settings: Settings) -> None:
    paths = files_client(service_settings).get("/openapi.json").json()["paths"]
    assert "text/javascript" in paths["/widget.js"]["get"]["responses"]["200"]["content"]
    assert paths["/widget.js"]["get"]["summary"].startswith("The catalog widget")
    assert not any(path.startswith("/demo") for path in paths)


def test_demo_pages_are_off_unless_enabled(fresh_client: TestClient) -> None:
    response = fresh_client.get("/demo/record/B000")
    assert response.status_code == 404
    assert response.json()["detail"] == "demo pages are off (set RECSYS_DEMO_PAGES=true)"


@pytest.fixture
def demo_client(make_client: Callable[..., TestClient], service_settings: Settings) -> TestClient:
    return make_client(service_settings.model_copy(update={"demo_pages": True}))


def test_demo_record_page_shows_the_record_under_a_strict_policy(demo_client: TestClient) -> None:
    response = demo_client.get("/demo/record/B000")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe" not in policy
    assert "<h1>Fantasy tale 0</h1>" in response.text
    containers = re.findall(r'<div class="recsys-list"[^>]*>', response.text)
    assert containers == [
        '<div class="recsys-list" data-book-id="B000" data-k="6">',
        '<div class="recsys-list" data-mode="session" data-book-id="B000" data-k="6">',
        '<div class="recsys-list" data-mode="popular" data-k="6">',
    ]
    assert '<script src="../../widget.js" defer></script>' in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    assert demo_client.get("/demo/demo.css").headers["content-type"] == "text/css; charset=utf-8"


def test_demo_starts_at_the_most_borrowed_book(demo_client: TestClient) -> None:
    top = demo_client.get("/popular", params={"period": "all", "k": 1}).json()["items"][0]
    response = demo_client.get("/demo", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"http://testserver/demo/record/{top['book_id']}"


def test_demo_record_of_an_unknown_book_is_404(demo_client: TestClient) -> None:
    response = demo_client.get("/demo/record/NOPE")
    assert response.status_code == 404
    assert response.json()["detail"] == "book 'NOPE' is not in the served catalog"


def test_demo_page_escapes_catalog_text() -> None:
    page = demo_page(
        book_id='B"1',
        title="<script>alert(1)</script> & more",
        author=None,
        subjects="a<b",
        service_url="http://127.0.0.1:8000/",
    )
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert 'data-book-id="B&quot;1"' in page and "a&lt;b" in page


def test_demo_policy_admits_the_cover_site_only(service_settings: Settings) -> None:
    covers = "https://covers.example.org/img/{book_id}.jpg"
    policy = demo_content_security_policy(
        service_settings.model_copy(update={"cover_url_template": covers})
    )
    assert "img-src 'self' data: https://covers.example.org;" in policy
    assert "img-src 'self' data:;" in demo_content_security_policy(service_settings)
