"""What the service answers to a list request, whoever takes it (the front door or a route).

Each function makes the list with `recsys.lists.pipeline`, renders it with
`recsys.lists.render` and keeps it in the list kind's cache (`recsys.lists.cache`), whose
entries are valid for one served model and one curation version. Public lists (per book,
popular) carry an `ETag` naming both versions, so a catalog's cache or CDN keeps them until the
model or the librarians' rules change; personal lists are `private, no-store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

from starlette.requests import Request
from starlette.responses import Response

from recsys.curation.manage import ReadingList
from recsys.curation.rules import CurationSet
from recsys.lists import pipeline
from recsys.lists.cache import ListCaches, Rendered
from recsys.lists.query import ListQuery
from recsys.lists.render import render
from recsys.lists.served import ServedModel

#: Seconds a catalog's cache or CDN may keep a public list.
MAX_AGE = 300
JSON = b"application/json"
PUBLIC_CACHE_CONTROL = f"public, max-age={MAX_AGE}".encode()
PRIVATE_CACHE_CONTROL = b"private, no-store"


def version_of(served: ServedModel, curation: CurationSet) -> Hashable:
    """What every cached list was made from: the served model and the librarians' rules."""
    return (served.version, served.loaded_at, curation.version)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match value names `etag` (weak or strong) or is `*`."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _etag(served: ServedModel, curation: CurationSet, key: Hashable) -> str:
    digest = hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:20]
    return f'"{served.version}-{curation.version}-{digest}"'


def book_key(book_id: str, query: ListQuery) -> Hashable:
    return ("book", book_id, query)


def popular_key(query: ListQuery) -> Hashable:
    return ("popular", query)


def book(
    caches: ListCaches, served: ServedModel, curation: CurationSet, book_id: str, query: ListQuery
) -> Rendered:
    """The per-book list of `book_id` (in the served catalog), rendered and cached."""
    version, key = version_of(served, curation), book_key(book_id, query)
    found = caches.book.get(version, key)
    if found is None:
        ranked = pipeline.book_list(served, curation, book_id=book_id, query=query)
        body = render(served, ranked, book_id=book_id)
        found = Rendered(body, ranked.strategy, etag=_etag(served, curation, key))
        caches.book.put(version, key, found)
    return found


def popular(
    caches: ListCaches, served: ServedModel, curation: CurationSet, query: ListQuery
) -> Rendered:
    """The popular list of the query's period, library and audience, rendered and cached."""
    version, key = version_of(served, curation), popular_key(query)
    found = caches.popular.get(version, key)
    if found is None:
        ranked = pipeline.popular_list(served, curation, query=query)
        filters = query.filters
        body = render(
            served, ranked, library=filters.library, audience=filters.audience, period=query.period
        )
        found = Rendered(body, ranked.strategy, etag=_etag(served, curation, key))
        caches.popular.put(version, key, found)
    return found


def reading_list_neighbours(
    caches: ListCaches,
    served: ServedModel,
    curation: CurationSet,
    reading_list: ReadingList,
    query: ListQuery,
) -> Rendered:
    """ "Readers of this list also borrowed", rendered and cached."""
    version = version_of(served, curation)
    key = ("reading-list", reading_list.list_id, reading_list.updated_at, query)
    found = caches.reading_list.get(version, key)
    if found is None:
        books = [book for book, _ in reading_list.books]
        ranked = pipeline.reading_list_neighbours(served, curation, books=books, query=query)
        body = render(served, ranked, list_id=reading_list.list_id)
        found = Rendered(body, ranked.strategy, etag=_etag(served, curation, key))
        caches.reading_list.put(version, key, found)
    return found


def session(
    served: ServedModel, curation: CurationSet, viewed: list[str], query: ListQuery
) -> Rendered:
    """Suggestions for an anonymous session's viewed books (never cached: nothing is kept)."""
    ranked = pipeline.session_list(served, curation, viewed=viewed, query=query)
    return Rendered(render(served, ranked), ranked.strategy)


def public_response(request: Request, entry: Rendered) -> Response:
    """A route's answer of a public list: 304 for a matching If-None-Match, else the body."""
    headers = {"ETag": entry.etag, "Cache-Control": PUBLIC_CACHE_CONTROL.decode()}
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type=JSON.decode(), headers=headers)


def private_response(entry: Rendered) -> Response:
    """A route's answer of a personal list (never stored by a shared cache)."""
    return Response(
        entry.body,
        media_type=JSON.decode(),
        headers={"Cache-Control": PRIVATE_CACHE_CONTROL.decode()},
    )
