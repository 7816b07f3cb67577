"""The service's front door: plain list requests answered before FastAPI's routing.

FastAPI's routing, dependency injection and validation cost several times the work of a
precomputed list, so a GET of a per-reader, per-book or popular list whose query parses
(`recsys.lists.query`, the parser the routes use too) and whose key is good is answered here,
with the routes' own answer functions (`recsys.service.answers`) and caches: the bytes are the
same whoever answers. Everything else goes to the routes unchanged: a missing, unknown or
under-scoped key (401/403), bad or unknown parameters (422, or ignored), an unknown book (404),
no model yet (503), a database error.

Per-reader lists: the reader's state (consent answer and category, loans, feedback, exclusions:
`recsys.db.reader_state`) comes from `ReaderStates`, which keeps them between requests only
while the store vouches that they have not changed (SQLite's change counter, PostgreSQL's
notices of changed readers) and otherwise reads them (inline on SQLite, in the threadpool
elsewhere), so an objection, an erasure, a new loan, a feedback or an exclusion changes the
answer within a second, whichever process wrote it. The rendered list is kept under (reader,
query) with a fingerprint of those rows and replayed while they are unchanged; a reader's
default list may also come from the files one worker rendered for every worker
(`recsys.service.replay`), under the same fingerprint check. A list that needs
the model (fold-in of loans newer than it, filters deeper than the precomputed list) is made in
the threadpool, as the route does. Right after a swap to a bundle without precomputed lists, a
reader whose list the new model has not computed yet gets the previous model's list
(`ModelStore.stand_in`, labelled with that model's version) instead of waiting. A fast answer
still sets `scope["route"]` and counts its strategy, so `/metrics` stays truthful. No reader id
is logged.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.cache import Rendered
from recsys.lists.personal import ReaderState, reader_list
from recsys.lists.pipeline import NotReady, SlowPath
from recsys.lists.query import FILTERED, POPULAR, ListQuery, QueryError, parse_query
from recsys.service import answers
from recsys.service.auth import READER_SCOPE

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel
    from recsys.service.model_store import ModelStore
    from recsys.service.reader_states import ReaderStates

logger = logging.getLogger(__name__)

READER_TEMPLATE = "/readers/{reader_id}/recommendations"
SIMILAR_TEMPLATE = "/books/{book_id}/similar"
POPULAR_TEMPLATE = "/popular"
_JSON = (b"content-type", b"application/json")
_PRIVATE = (b"cache-control", answers.PRIVATE_CACHE_CONTROL)
_PUBLIC = (b"cache-control", answers.PUBLIC_CACHE_CONTROL)


class _Template:
    """What `MetricsMiddleware` reads from `scope["route"]` when routing was skipped."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _id_between(path: str, prefix: str, suffix: str) -> str | None:
    """The id in `prefix{id}suffix` as the route would take it, or None."""
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return None
    value = path[len(prefix) : len(path) - len(suffix)]
    if not 1 <= len(value) <= MAX_ID_LENGTH or "/" in value:
        return None
    return value


class FrontDoor:
    """Answers plain list GETs; everything else goes to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answered = 0  # requests answered here so far (the tests read it)
        self._routes = {
            t: _Template(t) for t in (READER_TEMPLATE, SIMILAR_TEMPLATE, POPULAR_TEMPLATE)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # when the last request came in: warming waits for a lull
            scope["app"].state.last_request = time.monotonic()
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        handled = False
        if path == POPULAR_TEMPLATE:
            handled = await self._public(scope, send, POPULAR_TEMPLATE, None)
        elif (book := _id_between(path, "/books/", "/similar")) is not None:
            handled = await self._public(scope, send, SIMILAR_TEMPLATE, book)
        elif (reader := _id_between(path, "/readers/", "/recommendations")) is not None:
            handled = await self._reader(scope, send, reader)
        if not handled:
            await self.app(scope, receive, send)

    # --------------------------------------------------------------------- public lists
    async def _public(self, scope: Scope, send: Send, template: str, book: str | None) -> bool:
        state = scope["app"].state
        query = _query(scope, POPULAR if book is None else FILTERED)
        store: ModelStore | None = getattr(state, "store", None)
        served = None if store is None else store.served
        if query is None or served is None:
            return False
        if not state.settings.public_book_routes and not _has_scope(scope, state, READER_SCOPE):
            return False
        if book is not None and book not in served.catalog:
            return False
        curation = state.curation.current(served)
        version = answers.version_of(served, curation)
        if book is None:
            endpoint, cache, key = "popular", state.caches.popular, answers.popular_key(query)
            make = partial(answers.popular, state.caches, served, curation, query)
        else:
            endpoint, cache, key = "similar", state.caches.book, answers.book_key(book, query)
            make = partial(answers.book, state.caches, served, curation, book, query)
        # a kept list at once; a new one (it may compute a per-book list) in the threadpool
        entry = cache.get(version, key) or await run_in_threadpool(make)
        scope["route"] = self._routes[template]
        headers = [(b"etag", entry.etag.encode("latin-1")), _PUBLIC]
        if answers.etag_matches(_header(scope, b"if-none-match"), entry.etag):
            await _send(send, 304, headers, b"")
        else:
            await _send(send, 200, [*headers, _JSON], entry.body)
            state.metrics.count_strategy(endpoint, entry.strategy)
        self.answered += 1
        return True

    # --------------------------------------------------------------------- personal lists
    async def _reader(self, scope: Scope, send: Send, reader: str) -> bool:
        state = scope["app"].state
        query = _query(scope, FILTERED)
        store: ModelStore | None = getattr(state, "store", None)
        served = None if store is None else store.served
        if query is None or store is None or served is None:
            return False
        if not _has_scope(scope, state, READER_SCOPE):
            return False
        pseudonym = state.pseudonymizer.pseudonymize(reader)
        try:
            kept = await reader_answer(state, store, served, pseudonym, query)
        except (sqlite3.Error, SQLAlchemyError):
            return False
        except Exception as error:  # the route answers (or reports) it; never a reader id here
            logger.error("per-reader list failed at the front door: %s", type(error).__name__)
            return False
        scope["route"] = self._routes[READER_TEMPLATE]
        await _send(send, 200, [_PRIVATE, _JSON], kept.body)
        state.metrics.count_strategy("reader", kept.strategy)
        self.answered += 1
        return True


async def reader_answer(
    state: Any, store: ModelStore, served: ServedModel, pseudonym: str, query: ListQuery
) -> Rendered:
    """The reader's rendered list: the kept one while it is still the answer, else the one
    rendered ahead for every worker (`recsys.service.replay`) if it was made from the reader's
    rows as they are now, else made and kept. The front door answers with it;
    `recsys.service.warm` calls it before anyone asks."""
    reader_state = await read_reader_state(state, pseudonym)
    key = (pseudonym, query)
    curation = state.curation.current(served)
    version = answers.version_of(served, curation)
    kept = state.caches.reader.get(version, key)
    if kept is None or not _still(kept, reader_state, served, pseudonym):
        replayed = state.replays.get(
            version, served, curation.version, pseudonym, query, reader_state.fingerprint
        )
        if replayed is not None:
            return replayed
        kept = await _make(store, served, state, pseudonym, reader_state, query)
        if kept.standing_in or store.served is served:
            state.caches.reader.put(version, key, kept)
    return kept


async def _make(
    store: ModelStore,
    served: ServedModel,
    state: Any,
    pseudonym: str,
    reader_state: ReaderState,
    query: ListQuery,
) -> Rendered:
    """The list on the event loop when that is cheap; from the previous model while the
    served one computes this reader's list; otherwise in the threadpool, as the route does
    (fold-in, deeper lists, a list neither model has)."""

    def ask(model: ServedModel, *, cheap: bool) -> Rendered:
        curation = state.curation.current(model)
        return reader_list(model, curation, pseudonym, reader_state, query, cheap=cheap)

    try:
        return ask(served, cheap=True)
    except NotReady:
        stand_in = store.stand_in()
        if stand_in is not None:
            with contextlib.suppress(SlowPath):
                made = ask(stand_in, cheap=True)
                return Rendered(
                    made.body, made.strategy, fingerprint=made.fingerprint, standing_in=True
                )
    except SlowPath:
        pass
    return await run_in_threadpool(partial(ask, served, cheap=False))


async def read_reader_state(state: Any, pseudonym: str) -> ReaderState:
    """The reader's consent answer and loans, and a fingerprint of the rows they came from:
    kept, or read inline (SQLite) or in the threadpool."""
    states: ReaderStates = state.reader_states
    found = states.kept(pseudonym)
    if found is not None:
        return found
    if states.inline:
        return states.read(pseudonym)
    return await run_in_threadpool(states.read, pseudonym)


def _still(kept: Rendered, reader_state: ReaderState, served: ServedModel, pseudonym: str) -> bool:
    """Whether a kept list is still the answer: made from the same rows, and (if the previous
    model made it) the served model has not computed this reader's list yet."""
    if kept.fingerprint != reader_state.fingerprint:
        return False
    if not kept.standing_in:
        return True
    listed = served.readers.index.get(pseudonym)
    ready = listed is not None and served.readers.is_ready(listed)
    return not (ready or served.readers.complete)


#: Distinct query strings whose parse is remembered (catalogs ask a few over and over).
PARSED_QUERIES = 1024
_parsed: dict[tuple[bytes, tuple[str, ...]], ListQuery | None] = {}


def _query(scope: Scope, accepted: tuple[str, ...]) -> ListQuery | None:
    """The parsed query, or None where the route should answer (bad or unknown parameters)."""
    key = (scope.get("query_string", b""), accepted)
    if key in _parsed:
        return _parsed[key]
    try:
        query: ListQuery | None = parse_query(key[0], accepted)
    except QueryError:
        query = None
    if query is not None and query.unknown:
        query = None
    if len(_parsed) < PARSED_QUERIES:
        _parsed[key] = query
    return query


def _has_scope(scope: Scope, state: Any, wanted: str) -> bool:
    key = _header(scope, b"x-api-key")
    scopes = None if key is None else state.api_keys.scopes_of(key)
    return bool(scopes) and wanted in scopes  # type: ignore[operator]


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if status != 304:  # a 304 says nothing of a body (RFC 9110 15.4.5)
        headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header, as Starlette reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
