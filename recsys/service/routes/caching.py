"""Shared-cache headers for lists that are the same for everyone (per-book, popular).

Such a list changes only when a new model is published, so the ETag is the model version plus a
digest of the normalized query, and a catalog's cache or CDN may hold it for `MAX_AGE` seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from recsys.service.metrics import Metrics
from recsys.lists.served import ServedModel

MAX_AGE = 300
JSON = "application/json"


def etag_for(served: ServedModel, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return f'"{served.version}-{digest}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match value names `etag` (weak or strong) or is `*`."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def matches(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (weak or strong) or is `*`."""
    return etag_matches(request.headers.get("if-none-match"), etag)


async def cached_list(
    request: Request,
    served: ServedModel,
    metrics: Metrics,
    *,
    endpoint: str,
    key: str,
    render: Callable[[], tuple[bytes, str]],
) -> Response:
    """Answer 304 on a matching ETag, else the cached body, else `render()` in the threadpool."""
    etag = etag_for(served, key)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={MAX_AGE}"}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    hit = served.responses.get(key)
    if hit is None:
        hit = await run_in_threadpool(render)
        served.responses.put(key, hit)
    body, strategy = hit
    metrics.count_strategy(endpoint, strategy)
    return Response(body, media_type=JSON, headers=headers)
