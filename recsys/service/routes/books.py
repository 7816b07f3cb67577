"""Per-book lists ("readers who borrowed this also borrowed"): public and cacheable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool

from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.query import FILTERED, openapi_parameters
from recsys.service import answers
from recsys.service.deps import FilteredQuery, MetricsDep, PublicKey, ServedDep
from recsys.service.schemas import ErrorDetail, SimilarBooks

router = APIRouter(tags=["books"])

BookId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="catalog id")]


@router.get(
    "/books/{book_id}/similar",
    response_model=SimilarBooks,
    dependencies=[PublicKey],
    openapi_extra={"parameters": openapi_parameters(FILTERED)},
    responses={
        304: {"description": "not modified (If-None-Match)"},
        404: {"model": ErrorDetail},
        503: {"model": ErrorDetail},
    },
)
async def similar_books(
    book_id: BookId, request: Request, served: ServedDep, metrics: MetricsDep, query: FilteredQuery
) -> Response:
    """Books that readers of this book also borrowed (the same list for everyone)."""
    if book_id not in served.catalog:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"book {book_id!r} is not in the served catalog"
        )
    state = request.app.state
    curation = state.curation.current(served)
    entry = await run_in_threadpool(answers.book, state.caches, served, curation, book_id, query)
    response = answers.public_response(request, entry)
    if response.status_code == status.HTTP_200_OK:
        metrics.count_strategy("similar", entry.strategy)
    return response
