"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from recsys.service.deps import MetricsDep, StoreDep
from recsys.service.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, metrics: MetricsDep, store: StoreDep) -> PlainTextResponse:
    """Request counts and latencies per route, strategies and fallbacks, model version."""
    metrics.observe_store(store)
    metrics.observe_warming(request.app.state.warmer)
    return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)
