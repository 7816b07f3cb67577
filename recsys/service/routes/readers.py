"""Per-reader recommendations (API key with scope `reader`).

Plain requests are answered before routing by `recsys.service.front` with the same answer
function; this route answers the rest (unknown parameters, missing or under-scoped keys,
database errors) and serves as its oracle in the tests.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db.reader_state import consent_and_loans
from recsys.lists.cache import Rendered
from recsys.lists.personal import ReaderState, reader_list
from recsys.lists.query import FILTERED, openapi_parameters
from recsys.service import answers
from recsys.service.deps import FilteredQuery, ReaderKey, ServedDep
from recsys.service.schemas import ErrorDetail, ReaderRecommendations

logger = logging.getLogger(__name__)
router = APIRouter(tags=["readers"])

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
    openapi_extra={"parameters": openapi_parameters(FILTERED)},
    responses={
        401: {"model": ErrorDetail},
        403: {"model": ErrorDetail},
        503: {"model": ErrorDetail},
    },
)
async def reader_recommendations(
    reader_id: ReaderId, request: Request, served: ServedDep, query: FilteredQuery
) -> Response:
    """Books recommended for one reader; readers without loans get popular books."""
    state = request.app.state
    pseudonym = state.pseudonymizer.pseudonymize(reader_id)

    def answer() -> Rendered:
        """The blocking part (database, scoring), in one trip to the threadpool."""
        try:
            # Consent (recsys.consent) is checked on every request: an objection or erasure
            # is honoured from the next request on, without waiting for a new model.
            history = consent_and_loans(state.engine, state.settings, reader_id=pseudonym)
        except SQLAlchemyError as error:
            logger.error("reader history unavailable: %s", type(error).__name__)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the database does not answer; try again shortly",
            ) from None
        curation = state.curation.current(served)
        return reader_list(served, curation, pseudonym, ReaderState(history, None), query)

    entry = await run_in_threadpool(answer)
    state.metrics.count_strategy("reader", entry.strategy)
    return answers.private_response(entry)
