"""Per-book lists ("readers who borrowed this also borrowed"): public and cacheable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from recsys.service.deps import FiltersDep, K, MetricsDep, PublicKey, ServedDep
from recsys.lists.pipeline import similar_list
from recsys.service.routes.caching import cached_list
from recsys.service.schemas import MAX_ID_LENGTH, ErrorDetail, SimilarBooks

router = APIRouter(tags=["books"])

BookId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="catalog id")]


@router.get(
    "/books/{book_id}/similar",
    response_model=SimilarBooks,
    dependencies=[PublicKey],
    responses={
        304: {"description": "not modified (If-None-Match)"},
        404: {"model": ErrorDetail},
        503: {"model": ErrorDetail},
    },
)
async def similar_books(
    book_id: BookId,
    request: Request,
    served: ServedDep,
    filters: FiltersDep,
    metrics: MetricsDep,
    k: K = 10,
) -> Response:
    """Books that readers of this book also borrowed (the same list for everyone)."""
    if book_id not in served.catalog:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"book {book_id!r} is not in the served catalog"
        )
    key = f"similar|{book_id}|{k}|{filters!r}"

    def render() -> tuple[bytes, str]:
        result = similar_list(served, book_id=book_id, filters=filters, k=k)
        body = SimilarBooks(
            book_id=book_id,
            items=result.items,
            model_version=served.version,
            strategy=result.strategy,
        )
        return body.model_dump_json().encode(), result.strategy

    return await cached_list(request, served, metrics, endpoint="similar", key=key, render=render)
