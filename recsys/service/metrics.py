"""Prometheus metrics (prometheus-client), right with one worker process or several.

Requests are labelled by route template (``/readers/{reader_id}/recommendations``), never by the
raw path, so no reader id reaches the metrics or their cardinality. Under `recsys serve` every
worker writes its metrics to files in one directory (`recsys.service.metrics_files`) and a
scrape adds up all workers: counters and histograms are summed; of the gauges, the served
model's are the live workers' maximum and the lists computed so far their minimum (the slowest
worker). Without that directory (tests, an app built in-process) metrics stay in memory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.columns import Feedback
from recsys.exceptions import ConfigurationError
from recsys.service.metrics_files import ENVIRONMENT_VARIABLE, configured_directory

if TYPE_CHECKING:
    from recsys.service.model_store import ModelStore
    from recsys.service.reader_states import ReaderStates
    from recsys.service.warm import ListWarmer

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE = "unmatched"
#: Methods counted under their own name; any other is counted as "other" (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SWAP_OUTCOMES = ("swapped", "refused", "fallback")
FEEDBACK_ACTIONS = ("given", "withdrawn")
EXCLUSION_ACTIONS = ("excluded", "included")
DATA_REQUESTS = ("profile", "export_json", "export_csv")
#: Why a request read a reader's state from the store instead of using a kept one.
STATE_READ_REASONS = ("not_kept", "not_vouched")
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Metrics:
    """The service's counters, histograms and gauges, in one registry per app."""

    def __init__(self) -> None:
        self.directory = configured_directory()
        if self.directory is not None and values.ValueClass is values.MutexValue:
            raise ConfigurationError(
                f"{ENVIRONMENT_VARIABLE} was set after prometheus_client was imported, so "
                "each worker would count alone; set it before Python starts (`recsys serve` does)"
            )
        registry = self._registry = CollectorRegistry()
        self._requests = Counter(
            "recsys_http_requests",
            "HTTP requests by route template, method, status.",
            ("route", "method", "status"),
            registry=registry,
        )
        self._latency = Histogram(
            "recsys_http_request_duration_seconds",
            "Request latency by route template.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._strategies = Counter(
            "recsys_recommendations",
            "Lists answered, by endpoint and strategy.",
            ("endpoint", "strategy"),
            registry=registry,
        )
        self._fallbacks = Counter(
            "recsys_fallbacks", "Lists answered by a fallback strategy.", registry=registry
        )
        self._swaps = Counter(
            "recsys_model_swaps",
            "Attempts to serve a published model: swapped, refused, or fallback (an older "
            "valid run served because the published one was refused).",
            ("outcome",),
            registry=registry,
        )
        for outcome in SWAP_OUTCOMES:
            self._swaps.labels(outcome)
        self._model = Gauge(
            "recsys_model_info",
            "The model being served (1; 0 for models served before).",
            ("version", "model"),
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._loaded = Gauge(
            "recsys_model_loaded_timestamp_seconds",
            "When the served model was loaded.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._precomputed = Gauge(
            "recsys_lists_precomputed",
            "Per-reader and per-book lists computed so far (the slowest worker's count).",
            ("kind",),
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._lists = Gauge(
            "recsys_lists_total",
            "Readers and books the served model has lists for.",
            ("kind",),
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._published_refused = Gauge(
            "recsys_model_published_refused",
            "1 while the published run (CURRENT) cannot be served: corrupt, missing or failing "
            "its smoke query; /health/ready says which run is served instead.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._feedback = Counter(
            "recsys_reader_feedback",
            "Feedback readers gave or took back, by kind and action (given, withdrawn).",
            ("kind", "action"),
            registry=registry,
        )
        for kind in Feedback.ALL:
            for action in FEEDBACK_ACTIONS:
                self._feedback.labels(kind, action)
        self._exclusions = Counter(
            "recsys_reader_exclusions",
            "Books readers kept out of what feeds their suggestions (excluded) or let feed them "
            "again (included).",
            ("action",),
            registry=registry,
        )
        for action in EXCLUSION_ACTIONS:
            self._exclusions.labels(action)
        self._data_requests = Counter(
            "recsys_reader_data_requests",
            "Readers' profiles and data exports answered, by kind.",
            ("kind",),
            registry=registry,
        )
        for kind in DATA_REQUESTS:
            self._data_requests.labels(kind)
        self._reader_states = Gauge(
            "recsys_reader_state_kept",
            "1 while this worker keeps readers' consent answers and loans between requests, "
            "because the store vouches for them (SQLite's change counter, PostgreSQL's notices "
            "of changed readers); 0 while it reads them on every request (PostgreSQL without "
            "notices: the listener is down or the store lacks migration 0007). The slowest "
            "worker's value.",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._state_reads = Counter(
            "recsys_reader_state_reads",
            "Readers' lists (asked, or made ahead by warming) that read the reader's consent "
            "answer and loans from the store, by why: not_kept (the store vouches for kept "
            "states, but this reader's was not kept: a first ask, or more readers than a worker "
            "keeps) or not_vouched (nothing kept is used: PostgreSQL's notices are not followed "
            "at the moment).",
            ("reason",),
            registry=registry,
        )
        for reason in STATE_READ_REASONS:
            self._state_reads.labels(reason)
        self._warming = Gauge(
            "recsys_lists_warming",
            "1 while a worker still makes the readers' lists likeliest to be asked for the "
            "served model and curation rules, before they are asked, or reads every listed "
            "reader's fingerprint (`RECSYS_WARM_READERS`).",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._warmed = Gauge(
            "recsys_lists_warmed",
            "Readers' lists the last finished warming pass made (the slowest worker's count).",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._shown: tuple[str, str] | None = None
        # labelled series by their labels: `labels()` costs more than the count itself
        self._by_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._by_strategy: dict[tuple[str, str], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else "other", status)
        series = self._by_request.get(key)
        if series is None:
            series = self._by_request[key] = (
                self._requests.labels(route, key[1], str(status)),
                self._latency.labels(route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def count_strategy(self, endpoint: str, strategy: str) -> None:
        """Count which strategy answered (``fallback:*`` values are the fallbacks)."""
        key = (endpoint, strategy)
        series = self._by_strategy.get(key)
        if series is None:
            series = self._by_strategy[key] = self._strategies.labels(endpoint, strategy)
        series.inc()
        if strategy.startswith("fallback:"):
            self._fallbacks.inc()

    def count_feedback(self, kind: str, action: str) -> None:
        """Count a feedback given or taken back (`FEEDBACK_ACTIONS`); never who or on what."""
        self._feedback.labels(kind, action).inc()

    def count_exclusion(self, action: str) -> None:
        """Count a book excluded from what feeds a reader's suggestions, or included again."""
        self._exclusions.labels(action).inc()

    def count_data_request(self, kind: str) -> None:
        """Count a profile or data export answered (`DATA_REQUESTS`)."""
        self._data_requests.labels(kind).inc()

    def count_swap(self, outcome: str) -> None:
        """Count an attempt to serve a published model by outcome (`SWAP_OUTCOMES`)."""
        self._swaps.labels(outcome).inc()

    def observe_store(self, store: ModelStore) -> None:
        """Set the gauges from the served model (each worker, every poll and scrape)."""
        served = store.served
        shown = (served.version, served.bundle.manifest["model"]["name"]) if served else None
        if shown != self._shown:
            if self._shown is not None:
                self._model.labels(*self._shown).set(0)
            if shown is not None:
                self._model.labels(*shown).set(1)
            self._shown = shown
        self._loaded.set(served.loaded_at if served else 0)
        self._published_refused.set(1 if store.published_refused else 0)
        if served is not None:
            for kind, lists in (("reader", served.readers), ("book", served.similar)):
                self._precomputed.labels(kind).set(lists.done)
                self._lists.labels(kind).set(len(lists))

    def count_state_read(self, reason: str) -> None:
        """Count a request that read a reader's state from the store (`STATE_READ_REASONS`)."""
        self._state_reads.labels(reason).inc()

    def observe_reader_states(self, states: ReaderStates) -> None:
        """Set the gauge of whether readers' states are kept between requests."""
        self._reader_states.set(1 if states.kept_between_requests else 0)

    def observe_warming(self, warmer: ListWarmer) -> None:
        """Set the gauges of this worker's warming of readers' lists."""
        self._warming.set(1 if warmer.pending else 0)
        self._warmed.set(warmer.made)

    def render(self) -> bytes:
        """The Prometheus text exposition of the whole service (every worker)."""
        if self.directory is None:
            return generate_latest(self._registry)
        _forget_dead_workers(self.directory)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))
        return generate_latest(registry)


def _forget_dead_workers(directory: Path) -> None:
    """Drop the gauges of workers that died (uvicorn restarts them under a new process id);
    their counts stay in the totals."""
    for path in os.scandir(directory):
        if path.name.startswith("gauge_live") and path.name.endswith(".db"):
            pid = int(path.name.rsplit("_", 1)[1].removesuffix(".db"))
            if not _alive(pid):
                mark_process_dead(pid, str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request by its matched route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(
                template, scope["method"], status, time.perf_counter() - start
            )
