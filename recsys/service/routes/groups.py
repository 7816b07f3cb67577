"""Book-club suggestions: titles that suit a reading group and that none of it has read."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recsys.db.reader_state import consent_and_loans
from recsys.lists import pipeline
from recsys.lists.catalog import ListFilters
from recsys.lists.history import LoanHistory
from recsys.lists.query import ListQuery
from recsys.lists.render import items
from recsys.service.answers import PRIVATE_CACHE_CONTROL
from recsys.service.deps import MetricsDep, ReaderKey, ServedDep
from recsys.service.schemas import ErrorDetail, GroupRecommendations, GroupRequest

router = APIRouter(tags=["groups"])


@router.post(
    "/groups/recommendations",
    response_model=GroupRecommendations,
    dependencies=[ReaderKey],
    responses={401: {"model": ErrorDetail}, 403: {"model": ErrorDetail}},
)
async def group_recommendations(
    body: GroupRequest, request: Request, served: ServedDep, metrics: MetricsDep
) -> Response:
    """Suggestions for a book club: none of its members has borrowed them, they suit the group,
    and a branch holds enough copies (or a book-club kit). Members who gave no consent count
    only as readers whose books are left out."""
    if not body.reader_ids and not body.past_reads:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "give reader_ids (the members) or past_reads (books the group read), or both",
        )
    state = request.app.state
    pseudonymizer = state.pseudonymizer
    filters = ListFilters(
        library=body.library,
        available_only=body.available_only,
        audience=body.audience,
        format=body.format,
        language=body.language,
    )

    def answer() -> tuple[bytes, str]:
        members: list[tuple[str, LoanHistory]] = []
        for raw in dict.fromkeys(body.reader_ids):
            pseudonym = pseudonymizer.pseudonymize(raw)
            try:
                history = consent_and_loans(state.engine, state.settings, reader_id=pseudonym)
            except SQLAlchemyError:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE, "the database does not answer"
                ) from None
            if history is not None:
                members.append((pseudonym, history))
        ranked = pipeline.group_list(
            served,
            state.curation.current(served),
            members=members,
            past_reads=body.past_reads,
            query=ListQuery(filters, body.k),
            held=served.catalog.lendable_to_group(body.min_copies, body.library),
        )
        shown = {
            "items": list(items(served, ranked)),
            "model_version": served.version,
            "strategy": ranked.strategy,
            "members_personalized": sum(1 for _, h in members if len(h)),
        }
        return to_json(shown), ranked.strategy

    body_bytes, strategy = await run_in_threadpool(answer)
    metrics.count_strategy("group", strategy)
    return Response(
        body_bytes,
        media_type="application/json",
        headers={"Cache-Control": PRIVATE_CACHE_CONTROL.decode()},
    )
