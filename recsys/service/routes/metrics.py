"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from recsys.service.deps import MetricsDep, StoreDep

router = APIRouter(tags=["operations"])
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(metrics: MetricsDep, store: StoreDep) -> PlainTextResponse:
    """Request counts and latencies per route, strategies and fallbacks, model version."""
    served = store.served
    text = metrics.render(
        model_version=served.version if served else None,
        model_name=served.bundle.manifest["model"]["name"] if served else None,
        loaded_at=served.loaded_at if served else None,
        precomputed={
            "reader": (served.readers.done, len(served.readers)),
            "book": (served.similar.done, len(served.similar)),
        }
        if served
        else None,
    )
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)
