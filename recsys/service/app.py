"""`create_app`: the FastAPI application of the recommendation service.

The model store is built in the lifespan: it loads the published model in the background (so
`/health/live` answers at once and `/health/ready` says 503 until the model is in) and then polls
`CURRENT` every `settings.model_poll_seconds`. BLAS is pinned to one thread (threadpoolctl here,
OPENBLAS_NUM_THREADS=1 in `recsys serve`): scoring one reader is small work, and many BLAS threads
per request fight over the cores. The pseudonym key is checked against the store's on the same
interval (`recsys.service.key_watch`): a key rotated while the service runs is picked up. After
the start and after each model swap or curation change, each worker makes the readers' lists
likeliest to be asked next between requests (`recsys.service.warm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from functools import cache, partial
from importlib import metadata

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp
from threadpoolctl import threadpool_limits

from recsys.config import Settings, get_settings
from recsys.curation.source import CurationSource
from recsys.db.engine import make_engine
from recsys.lists.cache import ListCaches
from recsys.privacy import Pseudonymizer
from recsys.service.auth import ApiKeys
from recsys.service.body_limit import BodyLimit
from recsys.service.front import FrontDoor, cors_options
from recsys.service.head import HeadAsGet
from recsys.service.key_watch import KeyGuard, KeyWatch
from recsys.service.metrics import Metrics, MetricsMiddleware
from recsys.service.model_store import ModelStore
from recsys.service.periodic import every
from recsys.service.reader_states import ReaderStates
from recsys.service.replay import Replays
from recsys.service.routes import (
    admin,
    books,
    curation,
    docs,
    feedback,
    groups,
    health,
    popular,
    privacy,
    reader_data,
    readers,
    reading_lists,
    sessions,
    widget,
)
from recsys.service.routes import metrics as metrics_routes
from recsys.service.warm import WARM_POLL_SECONDS, ListWarmer

logger = logging.getLogger(__name__)


class ServiceApp(FastAPI):
    """FastAPI with the front door (`recsys.service.front`) outside its whole middleware stack:
    a plain list request skips every layer it does not need (error pages, telemetry, body
    limits, HEAD, CORS, the key guard, the metrics), and the front door does for it what those
    would (CORS headers, the key guard's refusal, the metrics); anything else goes through the
    stack unchanged."""

    def build_middleware_stack(self) -> ASGIApp:
        return FrontDoor(super().build_middleware_stack(), self.state.settings)


@cache
def _freeze_what_was_imported() -> None:
    """What the worker imported and built before its first app starts (modules, classes,
    schemas: hundreds of thousands of objects) lives as long as the process: the garbage
    collector's full rounds, which hold up every request and which each model load sets off,
    need not walk it again. Once per process: a later app's objects may be let go. Garbage
    left by the imports is collected first, or it would be kept for good."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; refuses to start without a valid pseudonym key or with malformed API keys."""
    settings = settings or get_settings()
    threadpool_limits(limits=1, user_api="blas")
    pseudonymizer = Pseudonymizer(settings.pseudonym_key_bytes())
    api_keys = ApiKeys(settings.api_key_scopes(), settings.api_key_names())
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _freeze_what_was_imported()
        engine = make_engine(settings)
        store = ModelStore(
            settings.models_dir,
            engine,
            min_readers=settings.min_pair_support,
            on_swap=metrics.count_swap,
        )
        curation = CurationSource(engine)
        reader_states = ReaderStates(engine, settings)
        reader_states.start()
        app.state.engine = engine
        app.state.store = store
        app.state.curation = curation
        app.state.caches = ListCaches()
        app.state.replays = Replays()
        app.state.reader_states = reader_states
        warmer = app.state.warmer = ListWarmer(app.state, settings.warm_readers)
        tasks = [
            asyncio.create_task(_load_then_poll(store, settings.model_poll_seconds)),
            asyncio.create_task(
                _observe(metrics, store, reader_states, warmer, settings.model_poll_seconds)
            ),
            asyncio.create_task(_follow_curation(curation, settings.curation_poll_seconds)),
            asyncio.create_task(
                every(
                    settings.model_poll_seconds,
                    partial(asyncio.to_thread, key_watch.check, engine),
                    "pseudonym key check",
                )
            ),
            asyncio.create_task(
                every(
                    min(settings.model_poll_seconds, WARM_POLL_SECONDS),
                    warmer.warm,
                    "warming readers' lists",
                )
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            reader_states.close()
            engine.dispose()

    app = ServiceApp(
        title="recsys",
        summary="Reading recommendations for library catalogs.",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py with local assets
        redoc_url=None,
        # the service's metrics are Prometheus' (/metrics); FastAPI's OpenTelemetry bridge
        # would look for configured providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.last_request = 0.0  # `time.monotonic` of the latest request (the front door sets it)
    app.state.pseudonymizer = pseudonymizer
    key_watch = app.state.key_watch = KeyWatch(settings, app.state)
    app.state.api_keys = api_keys
    app.state.metrics = metrics
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    # innermost first; the front door is outside all of them (`ServiceApp`)
    app.add_middleware(KeyGuard)  # a stale key answers nothing personal
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, **cors_options(settings))
    app.add_middleware(HeadAsGet)  # a HEAD goes through everything inside as a GET
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    routers = (
        readers,
        feedback,
        reader_data,
        books,
        popular,
        sessions,
        reading_lists,
        groups,
        health,
        metrics_routes,
        admin,
        curation,
        privacy,
        docs,
    )
    for module in routers:
        for route in module.router.routes:  # one-line docstrings become OpenAPI summaries
            if isinstance(route, APIRoute) and route.summary is None and route.description:
                route.summary = route.description.strip().splitlines()[0]
        app.include_router(module.router)
    app.include_router(widget.router)  # its routes name their own summaries
    return app


async def _load_then_poll(store: ModelStore, interval: float) -> None:
    """Load the published model now (in a thread), then keep polling for a newer one."""
    try:
        await asyncio.to_thread(store.refresh)
    except Exception:  # the poll below retries; readiness reports the problem
        logger.exception("initial model load failed")
    await store.poll(interval)


async def _follow_curation(curation: CurationSource, interval: float) -> None:
    """Read the librarians' rules now, then whenever the store's curation version moves."""
    while True:
        await asyncio.to_thread(curation.refresh)
        await asyncio.sleep(interval)


async def _observe(
    metrics: Metrics,
    store: ModelStore,
    reader_states: ReaderStates,
    warmer: ListWarmer,
    interval: float,
) -> None:
    """Keep this worker's gauges current, whichever worker a scrape reaches."""
    while True:
        metrics.observe_store(store)
        metrics.observe_reader_states(reader_states)
        metrics.observe_warming(warmer)
        await asyncio.sleep(interval)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each bad parameter and rule, without echoing the input (a reader id in the
    path must never come back in a body)."""
    problems = [
        {
            "loc": [str(part) if not isinstance(part, int) else part for part in e["loc"]],
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": problems})


def _version() -> str:
    try:
        return metadata.version("recsys")
    except metadata.PackageNotFoundError:
        return "0+unknown"
