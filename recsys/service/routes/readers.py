"""Per-reader recommendations (API key with scope `reader`).

Requests with plain parameters and a reader key are answered before routing by
`recsys.service.reader_fast` with the same list code and the same JSON; this route answers the
rest (other parameters, missing or under-scoped keys, database errors) and serves as its oracle
in the tests.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recsys.service.deps import FiltersDep, K, ReaderKey, ServedDep
from recsys.lists.history import consent_and_loans
from recsys.lists.pipeline import non_personal_list, reader_list
from recsys.service.schemas import MAX_ID_LENGTH, ErrorDetail, ReaderRecommendations

logger = logging.getLogger(__name__)
router = APIRouter(tags=["readers"])
PRIVATE = {"Cache-Control": "private, no-store"}
JSON = "application/json"

ReaderId = Annotated[
    str,
    Path(
        min_length=1, max_length=MAX_ID_LENGTH, description="the reader's id in the library system"
    ),
]


@router.get(
    "/readers/{reader_id}/recommendations",
    response_model=ReaderRecommendations,
    dependencies=[ReaderKey],
    responses={
        401: {"model": ErrorDetail},
        403: {"model": ErrorDetail},
        503: {"model": ErrorDetail},
    },
)
async def reader_recommendations(
    reader_id: ReaderId,
    request: Request,
    served: ServedDep,
    filters: FiltersDep,
    k: K = 10,
) -> Response:
    """Books recommended for one reader; readers without loans get popular books."""
    # app-wide objects straight from app.state: each FastAPI dependency costs ~0.1 ms
    state = request.app.state
    engine, settings, metrics = state.engine, state.settings, state.metrics
    pseudonym = state.pseudonymizer.pseudonymize(reader_id)

    def answer() -> tuple[bytes, str]:
        """The blocking part (database, scoring), in one trip to the threadpool."""
        try:
            # Consent (recsys.consent) is checked on every request: an objection or erasure
            # is honoured from the next request on, without waiting for a new model.
            history = consent_and_loans(engine, settings, reader_id=pseudonym)
        except SQLAlchemyError as error:
            logger.error("reader history unavailable: %s", type(error).__name__)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the database does not answer; try again shortly",
            ) from None
        if history is None:
            result = non_personal_list(served, filters=filters, k=k)
        else:
            result = reader_list(served, reader=pseudonym, history=history, filters=filters, k=k)
        body = ReaderRecommendations(
            items=result.items, model_version=served.version, strategy=result.strategy
        )
        # serialized here: FastAPI would validate the returned model once more
        return body.model_dump_json().encode(), result.strategy

    body, strategy = await run_in_threadpool(answer)
    metrics.count_strategy("reader", strategy)
    return Response(body, media_type=JSON, headers=PRIVATE)
