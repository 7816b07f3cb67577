"""The widget's script and stylesheet as served (settings filled in, gzipped once, with ETags),
and the demo record page that shows the widget to a librarian.

`widget.js` carries its configuration (record and cover links, the timeout), so a catalog page
needs one tag and no second request; the ETag is a digest of the served bytes, so it changes
whenever the settings or the files do. The stylesheet gets the card height (taller with covers)
from here, so the space it reserves matches what the script will draw.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from string import Template
from urllib.parse import urlsplit

from recsys.config import Settings

CONFIG_PLACEHOLDER = "__RECSYS_CONFIG__"
#: Height of one card, in em of the catalog's text: a three-line title and the author, plus a
#: cover when a cover template is set (see widget.css).
CARD_HEIGHT_EM = 6.75
CARD_WITH_COVER_HEIGHT_EM = 16.5
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Asset:
    """One served file, plain and gzipped, each with its own strong ETag."""

    body: bytes
    gzipped: bytes
    media_type: str
    etag: str
    gzip_etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Asset:
        digest = hashlib.sha256(body).hexdigest()[:24]
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            media_type=media_type,
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
        )


@dataclass(frozen=True)
class WidgetAssets:
    script: Asset
    stylesheet: Asset


def widget_assets(settings: Settings) -> WidgetAssets:
    """The script and stylesheet for `settings` (built once per distinct configuration)."""
    return _build(
        settings.record_url_template,
        settings.cover_url_template,
        round(settings.widget_timeout_seconds * 1000),
    )


@lru_cache(maxsize=8)
def _build(record: str | None, cover: str | None, timeout_ms: int) -> WidgetAssets:
    config = json.dumps({"record": record, "cover": cover, "timeout": timeout_ms})
    script = read_text("widget.js")
    height = CARD_WITH_COVER_HEIGHT_EM if cover else CARD_HEIGHT_EM
    stylesheet = read_text("widget.css") + f".recsys-list {{ --recsys-card-height: {height}em; }}\n"
    return WidgetAssets(
        script=Asset.of(script.replace(CONFIG_PLACEHOLDER, config).encode(), JAVASCRIPT),
        stylesheet=Asset.of(stylesheet.encode(), CSS),
    )


def read_text(name: str) -> str:
    """A file shipped beside this module (package data)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def demo_stylesheet() -> Asset:
    return Asset.of(read_text("demo.css").encode(), CSS)


def demo_page(
    *, book_id: str, title: str | None, author: str | None, subjects: str | None, service_url: str
) -> str:
    """A sample catalog record page with the widget's three lists on it (text escaped)."""
    fields = {
        "book_id": book_id,
        "title": title or book_id,
        "author": author or "",
        "subjects": subjects or "",
        "service": service_url,
    }
    escaped = {name: html.escape(value, quote=True) for name, value in fields.items()}
    return Template(read_text("demo.html")).substitute(escaped)


def demo_content_security_policy(settings: Settings) -> str:
    """The strict policy the demo page is served with: nothing inline, nothing evaluated, nothing
    from elsewhere but cover images when the cover template names another site."""
    images = ["'self'", "data:"]
    cover = urlsplit(settings.cover_url_template or "")
    if cover.scheme and cover.netloc:
        images.append(f"{cover.scheme}://{cover.netloc}")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src {' '.join(images)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
