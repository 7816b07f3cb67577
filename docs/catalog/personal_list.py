"""A logged-in reader's own suggestions, fetched by the discovery layer's *server*.

Per-reader lists need an API key with scope `reader`; that key must never reach a browser, so
the page cannot ask for them itself. The catalog's server (a Koha plugin, a VuFind module, a
small proxy) asks instead, for the reader it has logged in, and puts the list into the page it
renders. Python standard library only; the same two HTTP details apply in any language:

    GET {service}/readers/{card number}/recommendations?k=6
    X-API-Key: {the key}

The service pseudonymizes the card number on arrival and never echoes it back. This module never
logs it either: an error is logged by its kind only, because an HTTP error's text holds the URL.
The markup uses the widget's class names, so /widget.css styles it like the other lists, and
`data-mode="personal"`, which tells /widget.js to leave it as it is.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

logger = logging.getLogger(__name__)


def personal_list(
    reader_id: str, *, service: str, api_key: str, k: int = 6, timeout: float = 3.0
) -> list[dict[str, Any]]:
    """The reader's suggestions (`book_id`, `title`, `author`, ...), or [] if the service fails:
    the page is then rendered without the list."""
    url = (
        f"{service.rstrip('/')}/readers/{quote(reader_id, safe='')}/recommendations"
        f"?{urlencode({'k': k})}"
    )
    request = Request(url, headers={"X-API-Key": api_key, "Accept": "application/json"})
    try:
        with urlopen(request, timeout=timeout) as response:
            items: list[dict[str, Any]] = json.load(response)["items"]
            return items
    except (OSError, ValueError, KeyError) as error:  # HTTP errors and timeouts are OSErrors
        logger.warning("recsys personal list unavailable: %s", type(error).__name__)
        return []


def render_list(items: list[dict[str, Any]], *, record_url: str, heading: str) -> str:
    """The list as HTML for the server's page template ("" when there is nothing to show)."""
    if not items:
        return ""
    rows = "".join(
        '<li class="recsys-list__item"><a class="recsys-list__entry" href="{href}">'
        '<span class="recsys-list__title">{title}</span>'
        '<span class="recsys-list__author">{author}</span></a></li>'.format(
            href=html.escape(record_url.replace("{book_id}", quote(item["book_id"], safe=""))),
            title=html.escape(item.get("title") or item["book_id"]),
            author=html.escape(item.get("author") or ""),
        )
        for item in items
    )
    return (
        '<div class="recsys-list" data-mode="personal">'
        f'<h2 class="recsys-list__heading" id="recsys-personal">{html.escape(heading)}</h2>'
        f'<ul class="recsys-list__items" aria-labelledby="recsys-personal">{rows}</ul></div>'
    )
