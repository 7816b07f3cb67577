"""The service's front door: plain list requests answered before FastAPI's middleware and routing.

FastAPI's routing, dependency injection and validation, and each middleware's wrapping of the
request, cost several times the work of a precomputed list, so the front door sits outside the
whole stack (`recsys.service.app.ServiceApp`). A GET (or HEAD) without a body of a per-reader,
per-book or popular list whose query parses (`recsys.lists.query`, the parser the routes use
too) and whose key is good is answered here, with the routes' own answer functions
(`recsys.service.answers`) and caches: the bytes are the same whoever answers. It does for
those answers what the stack would: CORS headers for an allowed `Origin` (the same options as
the stack's CORS middleware), the request counted and timed in the metrics under its route, a
HEAD answered with the GET's status and headers and no body (as `recsys.service.head` does),
and while the pseudonym key is stale nothing personal (the stack's key guard answers).
Everything else goes to the stack unchanged: a body, a missing, unknown or under-scoped key
(401/403), bad or unknown parameters (422, or ignored), an unknown book (404), no model yet
(503), a database error.

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
(`ModelStore.stand_in`, labelled with that model's version) instead of waiting. No reader id
is logged.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from recsys.config import Settings
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.cache import Rendered
from recsys.lists.personal import ReaderState, reader_list
from recsys.lists.pipeline import NotReady, SlowPath
from recsys.lists.query import FILTERED, POPULAR, ListQuery, QueryError, parse_query
from recsys.service import answers
from recsys.service.auth import API_KEY_HEADER, READER_SCOPE

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
#: The request headers the front door reads (lower-case, as ASGI gives them).
_API_KEY = API_KEY_HEADER.lower().encode("latin-1")
_READ = frozenset((_API_KEY, b"if-none-match", b"origin", b"content-length", b"transfer-encoding"))
#: What the front door answers: a HEAD gets the GET's headers without the body.
_METHODS = frozenset(("GET", "HEAD"))
#: Where an answer waits for the CORS middleware to send it with its headers.
_ANSWER = "recsys.front_door.answer"


def cors_options(settings: Settings) -> dict[str, Any]:
    """The CORS middleware's options: one set for the stack's and the front door's."""
    return {
        "allow_origins": settings.cors_origins,
        "allow_methods": ["GET", "POST"],
        "allow_headers": [API_KEY_HEADER, "Content-Type", "If-None-Match"],
        "expose_headers": ["ETag"],
    }


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

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.answered = 0  # requests answered here so far (the tests read it)
        self._routes = {
            t: _Template(t) for t in (READER_TEMPLATE, SIMILAR_TEMPLATE, POPULAR_TEMPLATE)
        }
        self._cors = (
            CORSMiddleware(_send_answer, **cors_options(settings))
            if settings.cors_origins
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state = scope["app"].state
        state.last_request = started  # when the last request came in: warming waits for a lull
        method: str = scope["method"]
        if method not in _METHODS or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope["path"]
        answer: _Answer | None = None
        if b"transfer-encoding" in headers or headers.get(b"content-length", "0") != "0":
            pass  # a body: the stack's limit and routes deal with it
        elif path == POPULAR_TEMPLATE:
            answer = await self._public(state, scope, headers, POPULAR_TEMPLATE, None)
        elif (book := _id_between(path, "/books/", "/similar")) is not None:
            answer = await self._public(state, scope, headers, SIMILAR_TEMPLATE, book)
        elif (reader := _id_between(path, "/readers/", "/recommendations")) is not None:
            answer = await self._reader(state, scope, headers, reader)
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._routes[answer.template]
        if headers.get(b"origin") is not None and self._cors is not None:
            scope[_ANSWER] = answer
            await self._cors(scope, receive, send)
        else:
            await _send(send, answer, method)
        if answer.strategy is not None:
            state.metrics.count_strategy(answer.endpoint, answer.strategy)
        state.metrics.observe_request(
            answer.template, method, answer.status, time.monotonic() - started
        )
        self.answered += 1

    # --------------------------------------------------------------------- public lists
    async def _public(
        self, state: Any, scope: Scope, headers: _Headers, template: str, book: str | None
    ) -> _Answer | None:
        query = _query(scope, POPULAR if book is None else FILTERED)
        store: ModelStore | None = getattr(state, "store", None)
        served = None if store is None else store.served
        if query is None or served is None:
            return None
        if not state.settings.public_book_routes and not _has_scope(headers, state, READER_SCOPE):
            return None
        if book is not None and book not in served.catalog:
            return None
        try:
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
        except Exception as error:  # the route answers (or reports) it
            logger.error("a public list failed at the front door: %s", type(error).__name__)
            return None
        etag = (b"etag", entry.etag.encode("latin-1"))
        if answers.etag_matches(headers.get(b"if-none-match"), entry.etag):
            return _Answer(template, 304, [etag, _PUBLIC], b"", endpoint, None)
        return _Answer(template, 200, [etag, _PUBLIC, _JSON], entry.body, endpoint, entry.strategy)

    # --------------------------------------------------------------------- personal lists
    async def _reader(
        self, state: Any, scope: Scope, headers: _Headers, reader: str
    ) -> _Answer | None:
        query = _query(scope, FILTERED)
        store: ModelStore | None = getattr(state, "store", None)
        served = None if store is None else store.served
        if query is None or store is None or served is None:
            return None
        if not _has_scope(headers, state, READER_SCOPE):
            return None
        if state.key_watch.stale:  # the stack's key guard says why nothing personal is answered
            return None
        pseudonym = state.pseudonymizer.pseudonymize(reader)
        try:
            kept = await reader_answer(state, store, served, pseudonym, query)
        except (sqlite3.Error, SQLAlchemyError):
            return None
        except Exception as error:  # the route answers (or reports) it; never a reader id here
            logger.error("per-reader list failed at the front door: %s", type(error).__name__)
            return None
        return _Answer(READER_TEMPLATE, 200, [_PRIVATE, _JSON], kept.body, "reader", kept.strategy)


class _Answer(NamedTuple):
    """A response the front door made: sent as it is, or through the CORS middleware."""

    template: str
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    endpoint: str  # the strategy metric's endpoint label
    strategy: str | None  # counted when a body is sent


_Headers = dict[bytes, str]


def _headers(scope: Scope) -> _Headers:
    """The first value of each header the front door reads, as Starlette reads them."""
    found: _Headers = {}
    for name, value in scope["headers"]:
        if name in _READ and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _send_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """The app the front door's CORS middleware wraps: sends the answer left in the scope."""
    await _send(send, scope[_ANSWER], scope["method"])


async def reader_answer(
    state: Any, store: ModelStore, served: ServedModel, pseudonym: str, query: ListQuery
) -> Rendered:
    """The reader's rendered list: the kept one while it is still the answer, else the one
    rendered ahead for every worker (`recsys.service.replay`) if it was made from the reader's
    rows as they are now, else made and kept. The front door answers with it;
    `recsys.service.warm` calls it before anyone asks. A reader whose state is not kept but
    whose fingerprint is gets the rendered list without a read of the store."""
    curation = state.curation.current(served)
    version = answers.version_of(served, curation)
    states: ReaderStates = state.reader_states
    reader_state, fingerprint = states.kept_or_fingerprint(pseudonym)
    if reader_state is None:
        replayed = state.replays.get(
            version, served, curation.version, pseudonym, query, fingerprint
        )
        if replayed is not None:
            return replayed
        reader_state = await read_reader_state(state, pseudonym)
    key = (pseudonym, query)
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
    """The reader's consent answer and loans, and a fingerprint of the rows they came from,
    read from the store (inline on SQLite, else in the threadpool): their state was not kept."""
    states: ReaderStates = state.reader_states
    state.metrics.count_state_read("not_kept" if states.kept_between_requests else "not_vouched")
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


def _has_scope(headers: _Headers, state: Any, wanted: str) -> bool:
    key = headers.get(_API_KEY)
    scopes = None if key is None else state.api_keys.scopes_of(key)
    return bool(scopes) and wanted in scopes  # type: ignore[operator]


async def _send(send: Send, answer: _Answer, method: str) -> None:
    """The answer; to a HEAD, the GET's status and headers without the body (RFC 9110 9.3.2)."""
    headers = answer.headers
    if answer.status != 304:  # a 304 says nothing of a body (RFC 9110 15.4.5)
        headers = [*headers, (b"content-length", str(len(answer.body)).encode("ascii"))]
    body = b"" if method == "HEAD" else answer.body
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
