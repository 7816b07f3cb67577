"""Popular books per branch, audience and period: public and cacheable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from recsys.service.deps import K, MetricsDep, PublicKey, ServedDep
from recsys.lists.catalog import ListFilters
from recsys.lists.pipeline import popular_list
from recsys.service.routes.caching import cached_list
from recsys.service.schemas import MAX_FILTER_LENGTH, Audience, ErrorDetail, PopularBooks

router = APIRouter(tags=["books"])

Period = Literal["year", "month", "week", "all"]


@router.get(
    "/popular",
    response_model=PopularBooks,
    dependencies=[PublicKey],
    responses={304: {"description": "not modified (If-None-Match)"}, 503: {"model": ErrorDetail}},
)
async def popular(
    request: Request,
    served: ServedDep,
    metrics: MetricsDep,
    library: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_FILTER_LENGTH, description="branch library id"),
    ] = None,
    audience: Annotated[
        Audience | None, Query(description="children, young_adult or adult")
    ] = None,
    period: Annotated[Period, Query(description="counted back from the newest loan")] = "year",
    k: K = 10,
) -> Response:
    """The books most readers borrowed, overall or at one branch."""
    filters = ListFilters(audience=audience, library=library)
    key = f"popular|{period}|{k}|{filters!r}"

    def render() -> tuple[bytes, str]:
        result = popular_list(served, filters=filters, period=period, k=k)
        body = PopularBooks(
            items=result.items,
            model_version=served.version,
            strategy=result.strategy,
            library=library,
            audience=audience,
            period=period,
        )
        return body.model_dump_json().encode(), result.strategy

    return await cached_list(request, served, metrics, endpoint="popular", key=key, render=render)
