"""A pure-ASGI fast path for `GET /readers/{reader_id}/recommendations`, in front of routing.

FastAPI's routing, dependency injection, validation and the threadpool hop cost several times
the work of a precomputed list, so a request with a known key of scope `reader` and plain query
parameters is answered here. The answer is the route's, byte for byte: the same consent and
loans query on every request (inline on SQLite, where it takes tens of microseconds; in the
threadpool elsewhere), the same list code (`recsys.lists.pipeline.reader_ranking`) and the same
JSON. A list that needs the model (fold-in of loans newer than it, filters deeper than the
precomputed list) or a wait for a scoring batch is made in the threadpool, as the route does.

A list is a function of the served model, the reader, the query and the rows that query
returned (consent answer and loans), so the rendered body is kept under (reader, query) with a
fingerprint of those rows and replayed while they are unchanged; the query itself still runs on
every request, so an objection, an erasure or a new loan changes the answer from the next
request on, whichever process wrote it. A new model empties the store.

Right after a swap, a reader whose list the new model has not computed yet gets the previous
model's list (`ModelStore.stand_in`, labelled with that model's version) instead of waiting for
a scoring batch. Everything else goes to the FastAPI route unchanged: a missing, unknown or
under-scoped key (401/403), unknown, repeated, escaped or invalid parameters (422), no model yet
(503), a database error. A fast answer still sets `scope["route"]` and counts its strategy, so
`/metrics` stays truthful. No reader id is logged.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from recsys.columns import Audiences
from recsys.service.auth import READER_SCOPE
from recsys.lists.catalog import ListFilters
from recsys.lists.history import (
    LoanHistory,
    SqliteHistory,
    consent_and_loans,
    history_from_rows,
)
from recsys.lists.pipeline import (
    NotReady,
    RankedList,
    SlowPath,
    item_dicts,
    non_personal_ranking,
    reader_ranking,
)
from recsys.service.schemas import MAX_FILTER_LENGTH, MAX_ID_LENGTH, MAX_K

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel
    from recsys.service.model_store import ModelStore

logger = logging.getLogger(__name__)

READER_TEMPLATE = "/readers/{reader_id}/recommendations"
#: Rendered lists kept per model (about 1.6 kB each at k=10), oldest dropped first.
READER_CACHE_BYTES = 64 * 1024 * 1024
_PREFIX, _SUFFIX = "/readers/", "/recommendations"
_TEXT_FILTERS = ("library", "format", "language")
_BOOLEANS = {b"true": True, b"1": True, b"false": False, b"0": False}
_AUDIENCES = {a.encode("ascii"): a for a in Audiences.ALL}
_HEADERS = [(b"cache-control", b"private, no-store")]
_JSON = (b"content-type", b"application/json")


class _Kept(NamedTuple):
    """A rendered list and the fingerprint of the consent and loan rows it was made from."""

    rows: tuple[int, int]
    body: bytes
    strategy: str
    standing_in: bool  # made by the previous model: valid until the served one has the list

    def answers(self, rows: tuple[int, int], served: ServedModel, reader: str) -> bool:
        """Whether this is still the answer for consent and loan rows `rows`."""
        if rows != self.rows:
            return False
        if not self.standing_in:
            return True
        listed = served.readers.index.get(reader)
        ready = listed is not None and served.readers.is_ready(listed)
        return not (ready or served.readers.complete)


class _Template:
    """What `MetricsMiddleware` reads from `scope["route"]` when routing was skipped."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def reader_in_path(path: str) -> str | None:
    """The reader id of a per-reader recommendations path the route would accept, or None."""
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    reader = path[len(_PREFIX) : -len(_SUFFIX)]
    if not 1 <= len(reader) <= MAX_ID_LENGTH or "/" in reader:
        return None
    return reader


def parse_query(query: bytes) -> tuple[ListFilters, int] | None:
    """Filters and k of a plain, valid query string; None for anything the route should judge
    (escapes, unknown or repeated names, values it might refuse or read differently)."""
    values: dict[str, Any] = {}
    excluded: list[str] = []
    if query and (b"%" in query or b"+" in query or not query.isascii()):
        return None
    for part in query.split(b"&") if query else ():
        name, equals, value = part.partition(b"=")
        if not equals:
            return None
        key = name.decode("ascii")
        if key == "exclude":
            if not 1 <= len(value) <= MAX_ID_LENGTH:
                return None
            excluded.append(value.decode("ascii"))
            continue
        if key in values:
            return None
        if key == "k":
            if not value.isdigit() or value[:1] == b"0" or not 1 <= int(value) <= MAX_K:
                return None
            values[key] = int(value)
        elif key in _TEXT_FILTERS:
            if not 1 <= len(value) <= MAX_FILTER_LENGTH:
                return None
            values[key] = value.decode("ascii")
        elif key == "available_only":
            if value not in _BOOLEANS:
                return None
            values[key] = _BOOLEANS[value]
        elif key == "audience":
            if value not in _AUDIENCES:
                return None
            values[key] = _AUDIENCES[value]
        else:
            return None
    k = values.pop("k", 10)
    return ListFilters(**values, exclude=tuple(excluded)), k


def render(served: ServedModel, ranked: RankedList) -> bytes:
    """The route's JSON body (`ReaderRecommendations.model_dump_json`), without the models."""
    return to_json(
        {
            "items": item_dicts(served, ranked),
            "model_version": served.version,
            "strategy": ranked.strategy,
        }
    )


class ReaderFastPath:
    """Answers plain per-reader requests; everything else goes to the app unchanged."""

    def __init__(self, app: ASGIApp, *, cache_bytes: int = READER_CACHE_BYTES) -> None:
        self.app = app
        self.answered = 0  # fast answers so far (the tests read it)
        self.cache_bytes = cache_bytes
        self._route = _Template(READER_TEMPLATE)
        self._history: SqliteHistory | None = None
        self._engine: Any = None
        self._served: ServedModel | None = None
        self._bodies: dict[tuple[str, bytes], _Kept] = {}
        self._stored = 0

    def __len__(self) -> int:
        """How many rendered lists of the served model are kept."""
        return len(self._bodies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        reader = reader_in_path(scope["path"])
        answer = None if reader is None else await self._answer(scope, reader)
        if answer is None:
            await self.app(scope, receive, send)
            return
        body, strategy = answer
        scope["route"] = self._route
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode("ascii")), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.answered += 1
        scope["app"].state.metrics.count_strategy("reader", strategy)

    async def _answer(self, scope: Scope, reader: str) -> tuple[bytes, str] | None:
        """The body and strategy of a fast answer, or None: the route answers."""
        query = scope.get("query_string", b"")
        parsed = parse_query(query)
        if parsed is None:
            return None
        state = scope["app"].state
        key = _header(scope, b"x-api-key")
        scopes = None if key is None else state.api_keys.scopes_of(key)
        store: ModelStore | None = getattr(state, "store", None)
        served = None if store is None else store.served
        if not scopes or READER_SCOPE not in scopes or store is None or served is None:
            return None
        if served is not self._served:  # a new model: every kept list is stale
            self._served, self._bodies, self._stored = served, {}, 0
        pseudonym = state.pseudonymizer.pseudonymize(reader)
        try:
            fingerprint, history = await self._consent_and_loans(state, pseudonym)
            cache_key = (pseudonym, query)
            kept = self._bodies.get(cache_key)
            if kept is not None and kept.answers(fingerprint, served, pseudonym):
                return kept.body, kept.strategy
            filters, k = parsed
            made, ranked = await self._rank(store, served, pseudonym, history(), filters, k)
            body = render(made, ranked)
        except (sqlite3.Error, SQLAlchemyError):
            return None
        except Exception as error:  # the route answers (or reports) it; never a reader id here
            logger.error("per-reader fast path failed: %s", type(error).__name__)
            return None
        self._keep(served, cache_key, _Kept(fingerprint, body, ranked.strategy, made is not served))
        return body, ranked.strategy

    async def _rank(
        self,
        store: ModelStore,
        served: ServedModel,
        reader: str,
        loans: LoanHistory | None,
        filters: ListFilters,
        k: int,
    ) -> tuple[ServedModel, RankedList]:
        """The list and the model that made it: on the event loop when that is cheap; from the
        previous model while the served one computes this reader's list; otherwise in the
        threadpool, as the route does (fold-in, deeper lists, a list neither model has)."""
        if loans is None:
            return served, non_personal_ranking(served, filters=filters, k=k)
        ask = partial(reader_ranking, reader=reader, history=loans, filters=filters, k=k)
        try:
            return served, ask(served, cheap=True)
        except NotReady:
            stand_in = store.stand_in()
            if stand_in is not None:
                with contextlib.suppress(SlowPath):
                    return stand_in, ask(stand_in, cheap=True)
        except SlowPath:
            pass
        return served, await run_in_threadpool(ask, served)

    def _keep(self, served: ServedModel, key: tuple[str, bytes], entry: _Kept) -> None:
        """Store a rendered list of `served`, dropping the oldest beyond `cache_bytes`."""
        if self._served is not served:  # swapped while the database answered
            return
        old = self._bodies.pop(key, None)
        if old is not None:
            self._stored -= len(old.body)
        self._bodies[key] = entry
        self._stored += len(entry.body)
        while self._stored > self.cache_bytes and self._bodies:
            dropped = self._bodies.pop(next(iter(self._bodies)))
            self._stored -= len(dropped.body)

    async def _consent_and_loans(
        self, state: Any, pseudonym: str
    ) -> tuple[tuple[int, int], Callable[[], LoanHistory | None]]:
        """A fingerprint of the reader's consent answer and loans (equal fingerprints: the same
        list) and a function parsing them (None: no personal suggestions)."""
        engine = state.engine
        if engine is not self._engine:  # first request, or a new app lifespan
            if self._history is not None:
                self._history.close()
            self._engine = engine
            self._history = (
                SqliteHistory(engine, state.settings) if SqliteHistory.supports(engine) else None
            )
        source = self._history
        if source is not None:
            rows = source.rows(pseudonym)
            return (len(rows), hash(tuple(rows))), lambda: history_from_rows(
                rows, source.consent_mode
            )
        loans = await run_in_threadpool(
            consent_and_loans, engine, state.settings, reader_id=pseudonym
        )
        if loans is None:
            return (-1, 0), lambda: None
        content = (tuple(loans.book_ids), tuple(loans.events), loans.seconds.tobytes())
        return (len(loans), hash(content)), lambda: loans


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header, as Starlette reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
