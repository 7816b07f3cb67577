"""A pure-ASGI cache of rendered public lists (per-book, popular), in front of routing.

Those lists are the same for everyone and change only with the model, so once the app has
answered one, the exact response (body, ETag, Cache-Control) is replayed without FastAPI's
routing, dependency injection and validation: that work costs several times the list lookup.
Only a 200 with an ETag of the served model is stored, under the path and the query string; a
swap to a new model empties the cache. A hit still sets `scope["route"]` (the Prometheus
per-route counts stay right) and counts the list's strategy like the route does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.service.metrics import Metrics
from recsys.service.routes.caching import etag_matches

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel

#: Rendered responses kept per model (first in, first out: no bookkeeping on a hit).
PUBLIC_CACHE_SIZE = 20_000
SIMILAR_TEMPLATE = "/books/{book_id}/similar"
POPULAR_TEMPLATE = "/popular"
_ENDPOINTS = {SIMILAR_TEMPLATE: "similar", POPULAR_TEMPLATE: "popular"}


@dataclass(frozen=True)
class _Entry:
    headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]
    etag: str
    body: bytes
    strategy: str


class _Template:
    """What `MetricsMiddleware` reads from `scope["route"]` when routing was skipped."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def public_template(path: str) -> str | None:
    """The route template of a cacheable public path, or None."""
    if path == POPULAR_TEMPLATE:
        return POPULAR_TEMPLATE
    if path.startswith("/books/") and path.endswith("/similar"):
        book = path[len("/books/") : -len("/similar")]
        if book and "/" not in book:
            return SIMILAR_TEMPLATE
    return None


def _name(part: bytes) -> bytes:
    return part.partition(b"=")[0]


def normalized_query(query: bytes) -> bytes:
    """The query string with parameters in name order (a stable sort: repeated names keep
    their order); left as sent when escapes could hide which name is which."""
    if b"&" not in query or b"%" in query or b"+" in query:
        return query
    ordered = sorted(query.split(b"&"), key=_name)
    return b"&".join(ordered)


class PublicListCache:
    """Replays stored public list responses; everything else goes to the app unchanged."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, enabled: bool, size: int = PUBLIC_CACHE_SIZE
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled
        self.size = size
        self._served: ServedModel | None = None
        self._entries: dict[tuple[str, bytes], _Entry] = {}
        self._routes = {t: _Template(t) for t in _ENDPOINTS}

    def __len__(self) -> int:
        """How many responses of the served model are stored."""
        return len(self._entries)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        template = public_template(scope["path"])
        store = getattr(scope["app"].state, "store", None) if template else None
        served: ServedModel | None = None if store is None else store.served
        if served is None:
            await self.app(scope, receive, send)
            return
        if served is not self._served:  # a new model: every stored list is stale
            self._served, self._entries = served, {}
        key = (scope["path"], normalized_query(scope.get("query_string", b"")))
        entry = self._entries.get(key)
        if entry is None:
            await self._answer_and_store(scope, receive, send, served, key)
            return
        scope["route"] = self._routes[template]  # type: ignore[index]
        if etag_matches(_header(scope, b"if-none-match"), entry.etag):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": entry.not_modified_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})
        self.metrics.count_strategy(_ENDPOINTS[template], entry.strategy)  # type: ignore[index]

    async def _answer_and_store(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        served: ServedModel,
        key: tuple[str, bytes],
    ) -> None:
        """Let the app answer, keeping a copy of a complete 200 of the served model."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start.get("status") != 200 or self._served is not served:
            return
        headers = list(start.get("headers", []))
        etag = dict(headers).get(b"etag", b"").decode("latin-1")
        if not etag.startswith(f'"{served.version}-'):
            return
        body = b"".join(chunks)
        strategy = json.loads(body)["strategy"]
        kept = [(name, value) for name, value in headers if name in (b"etag", b"cache-control")]
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(headers, kept, etag, body, strategy)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
