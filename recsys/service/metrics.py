"""Prometheus metrics in the text exposition format, kept by hand (no extra dependency).

Requests are labelled by route template (``/readers/{reader_id}/recommendations``), never by the
raw path, so no reader id reaches the metrics or their cardinality.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE = "unmatched"


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.total = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds
        self.total += 1


class Metrics:
    """Counters and latency histograms of one app instance (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self._strategies: dict[tuple[str, str], int] = defaultdict(int)
        self._swaps: dict[str, int] = defaultdict(int)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, method, status)] += 1
            self._latency[route].observe(seconds)

    def count_strategy(self, endpoint: str, strategy: str) -> None:
        """Count which strategy answered (``fallback:*`` values are the fallbacks)."""
        with self._lock:
            self._strategies[(endpoint, strategy)] += 1

    def count_swap(self, outcome: str) -> None:
        """Count a model swap attempt by outcome (``swapped`` or ``refused``)."""
        with self._lock:
            self._swaps[outcome] += 1

    def request_count(self, route: str) -> int:
        with self._lock:
            return sum(n for (r, _, _), n in self._requests.items() if r == route)

    def render(
        self,
        *,
        model_version: str | None,
        model_name: str | None,
        loaded_at: float | None,
        precomputed: Mapping[str, tuple[int, int]] | None = None,
    ) -> str:
        """The Prometheus text exposition of every metric."""
        with self._lock:
            requests = dict(self._requests)
            latency = {r: (list(h.counts), h.sum, h.total) for r, h in self._latency.items()}
            strategies = dict(self._strategies)
            swaps = dict(self._swaps)
        lines = [
            "# HELP recsys_http_requests_total HTTP requests by route template, method, status.",
            "# TYPE recsys_http_requests_total counter",
        ]
        for (route, method, status), n in sorted(requests.items()):
            labels = _labels(route=route, method=method, status=status)
            lines.append(f"recsys_http_requests_total{labels} {n}")
        lines += [
            "# HELP recsys_http_request_duration_seconds Request latency by route template.",
            "# TYPE recsys_http_request_duration_seconds histogram",
        ]
        for route, (counts, total_seconds, total) in sorted(latency.items()):
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), counts, strict=True):
                cumulative += count
                labels = _labels(route=route, le=bound)
                lines.append(f"recsys_http_request_duration_seconds_bucket{labels} {cumulative}")
            lines.append(
                f"recsys_http_request_duration_seconds_sum{_labels(route=route)} "
                f"{total_seconds:.6f}"
            )
            lines.append(
                f"recsys_http_request_duration_seconds_count{_labels(route=route)} {total}"
            )
        lines += [
            "# HELP recsys_recommendations_total Lists answered, by endpoint and strategy.",
            "# TYPE recsys_recommendations_total counter",
        ]
        for (endpoint, strategy), n in sorted(strategies.items()):
            labels = _labels(endpoint=endpoint, strategy=strategy)
            lines.append(f"recsys_recommendations_total{labels} {n}")
        fallbacks = sum(n for (_, s), n in strategies.items() if s.startswith("fallback:"))
        lines += [
            "# HELP recsys_fallbacks_total Lists answered by a fallback strategy.",
            "# TYPE recsys_fallbacks_total counter",
            f"recsys_fallbacks_total {fallbacks}",
            "# HELP recsys_model_swaps_total Attempts to serve a newly published model.",
            "# TYPE recsys_model_swaps_total counter",
        ]
        for outcome in ("swapped", "refused"):
            lines.append(
                f"recsys_model_swaps_total{_labels(outcome=outcome)} {swaps.get(outcome, 0)}"
            )
        lines += [
            "# HELP recsys_model_info The model being served (value 1).",
            "# TYPE recsys_model_info gauge",
        ]
        if model_version is not None:
            labels = _labels(version=model_version, model=model_name or "")
            lines.append(f"recsys_model_info{labels} 1")
        lines += [
            "# HELP recsys_model_loaded_timestamp_seconds When the served model was loaded.",
            "# TYPE recsys_model_loaded_timestamp_seconds gauge",
            f"recsys_model_loaded_timestamp_seconds {loaded_at or 0:.3f}",
            "# HELP recsys_lists_precomputed Per-reader and per-book lists computed so far.",
            "# TYPE recsys_lists_precomputed gauge",
        ]
        for kind, (ready, _) in sorted((precomputed or {}).items()):
            lines.append(f"recsys_lists_precomputed{_labels(kind=kind)} {ready}")
        lines += [
            "# HELP recsys_lists_total Readers and books the served model has lists for.",
            "# TYPE recsys_lists_total gauge",
        ]
        for kind, (_, total) in sorted((precomputed or {}).items()):
            lines.append(f"recsys_lists_total{_labels(kind=kind)} {total}")
        return "\n".join(lines) + "\n"


def _labels(**values: Any) -> str:
    parts = []
    for key, value in values.items():
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{text}"')
    return "{" + ",".join(parts) + "}"


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
