"""Dependencies of the routes, as `Annotated` aliases (the FastAPI full-stack template's style).

They are `async` because they never block: FastAPI runs a plain `def` dependency in the
threadpool, a thread hop per dependency and request. The one exception, `get_pseudonymizer`,
asks the database (admin routes only).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys.config import Settings
from recsys.lists.query import FILTERED, POPULAR, ListQuery, QueryError, parse_query
from recsys.lists.served import ServedModel
from recsys.privacy import Pseudonymizer
from recsys.service.auth import ADMIN_SCOPE, READER_SCOPE, require_scope
from recsys.service.key_watch import STALE_KEY
from recsys.service.metrics import Metrics
from recsys.service.model_store import ModelStore

logger = logging.getLogger(__name__)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_served(request: Request) -> ServedModel:
    """The model being served; 503 while none is loaded."""
    served = request.app.state.store.served
    if served is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no model is loaded yet: publish one (`recsys nightly` or `recsys publish RUN_ID`)",
        )
    return served


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_pseudonymizer(request: Request) -> Pseudonymizer:
    """The pseudonymizer, checked against the store's key first (`recsys.service.key_watch`):
    a route that changes a reader's data must never act under a stale key. 503 otherwise."""
    state = request.app.state
    try:
        current = state.key_watch.check(state.engine)
    except SQLAlchemyError as error:
        logger.error("pseudonym key check: database unavailable: %s", type(error).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the database does not answer; try again shortly"
        ) from None
    if not current:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STALE_KEY)
    return state.pseudonymizer


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def _query_of(accepted: tuple[str, ...]) -> Callable[[Request], Awaitable[ListQuery]]:
    """A dependency reading the route's list parameters with the one parser
    (`recsys.lists.query`); a bad one is a 422 naming it."""

    async def dependency(request: Request) -> ListQuery:
        try:
            return parse_query(request.scope.get("query_string", b""), accepted)
        except QueryError as error:
            raise RequestValidationError(error.problems) from None

    return dependency


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
ServedDep = Annotated[ServedModel, Depends(get_served)]
EngineDep = Annotated[Engine, Depends(get_engine)]
PseudonymizerDep = Annotated[Pseudonymizer, Depends(get_pseudonymizer)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
FilteredQuery = Annotated[ListQuery, Depends(_query_of(FILTERED))]
PopularQuery = Annotated[ListQuery, Depends(_query_of(POPULAR))]

ReaderKey = Depends(require_scope(READER_SCOPE))
AdminKey = Depends(require_scope(ADMIN_SCOPE))
PublicKey = Depends(require_scope(READER_SCOPE, unless_public=True))
