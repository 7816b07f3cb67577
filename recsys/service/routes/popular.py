"""Popular books per branch, audience and period: public and cacheable."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from recsys.lists.query import POPULAR, openapi_parameters
from recsys.service import answers
from recsys.service.deps import MetricsDep, PopularQuery, PublicKey, ServedDep
from recsys.service.schemas import ErrorDetail, PopularBooks

router = APIRouter(tags=["books"])


@router.get(
    "/popular",
    response_model=PopularBooks,
    dependencies=[PublicKey],
    openapi_extra={"parameters": openapi_parameters(POPULAR)},
    responses={304: {"description": "not modified (If-None-Match)"}, 503: {"model": ErrorDetail}},
)
async def popular(
    request: Request, served: ServedDep, metrics: MetricsDep, query: PopularQuery
) -> Response:
    """The books most readers borrowed, overall or at one branch."""
    state = request.app.state
    curation = state.curation.current(served)
    entry = await run_in_threadpool(answers.popular, state.caches, served, curation, query)
    response = answers.public_response(request, entry)
    if response.status_code == status.HTTP_200_OK:
        metrics.count_strategy("popular", entry.strategy)
    return response
