"""Suggestions for an anonymous catalog session (nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.catalog import ListFilters
from recsys.lists.query import ListQuery
from recsys.service import answers
from recsys.service.deps import MetricsDep, PublicKey, ServedDep
from recsys.service.schemas import ErrorDetail, SessionRecommendations, SessionRequest

router = APIRouter(tags=["sessions"])


@router.post(
    "/sessions/recommendations",
    response_model=SessionRecommendations,
    dependencies=[PublicKey],
    responses={503: {"model": ErrorDetail}},
)
def session_recommendations(
    body: SessionRequest, request: Request, served: ServedDep, metrics: MetricsDep
) -> Response:
    """Suggestions from the books viewed in an anonymous session."""
    for book_id in body.book_ids:
        if not 1 <= len(book_id) <= MAX_ID_LENGTH:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"book_ids holds an id of {len(book_id)} characters; ids have 1 to {MAX_ID_LENGTH}",
            )
    filters = ListFilters(
        library=body.library,
        available_only=body.available_only,
        audience=body.audience,
        format=body.format,
        language=body.language,
    )
    curation = request.app.state.curation.current(served)
    entry = answers.session(served, curation, body.book_ids, ListQuery(filters, body.k))
    metrics.count_strategy("session", entry.strategy)
    return answers.private_response(entry)
