"""`/docs` works without internet: the page and everything it loads come from the service."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def test_docs_reference_only_the_services_own_origin(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    references = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    references += re.findall(r"url: '([^']*)'", page.text)
    assert len(references) == 4  # stylesheet, icon, script, OpenAPI document
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        response = client.get(reference)
        assert response.status_code == 200, reference
        suffix = reference[reference.rfind(".") :]
        if suffix in CONTENT_TYPES:
            assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix])
            assert len(response.content) > 1_000
    assert client.get("/openapi.json").json()["info"]["title"] == "recsys"


def test_only_the_pages_assets_are_served(client: TestClient) -> None:
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc's bundle loads its logo from a CDN
