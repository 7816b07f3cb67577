"""Suggestions for an anonymous catalog session (nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from recsys.service.deps import MetricsDep, PublicKey, ServedDep
from recsys.lists.catalog import ListFilters
from recsys.lists.pipeline import session_list
from recsys.service.schemas import (
    MAX_ID_LENGTH,
    ErrorDetail,
    SessionRecommendations,
    SessionRequest,
)

router = APIRouter(tags=["sessions"])


@router.post(
    "/sessions/recommendations",
    response_model=SessionRecommendations,
    dependencies=[PublicKey],
    responses={503: {"model": ErrorDetail}},
)
def session_recommendations(
    body: SessionRequest,
    response: Response,
    served: ServedDep,
    metrics: MetricsDep,
) -> SessionRecommendations:
    """Suggestions from the books viewed in an anonymous session."""
    response.headers["Cache-Control"] = "private, no-store"
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
    result = session_list(served, viewed=body.book_ids, filters=filters, k=body.k)
    metrics.count_strategy("session", result.strategy)
    return SessionRecommendations(
        items=result.items, model_version=served.version, strategy=result.strategy
    )
