"""Dependencies of the routes, as `Annotated` aliases (the FastAPI full-stack template's style).

They are `async` because they never block: FastAPI runs a plain `def` dependency in the
threadpool, a thread hop per dependency and request. The one exception, `get_pseudonymizer`,
asks the database (admin routes only).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys.config import Settings
from recsys.privacy import Pseudonymizer
from recsys.service.auth import ADMIN_SCOPE, READER_SCOPE, require_scope
from recsys.service.filters import ListFilters
from recsys.service.key_watch import STALE_KEY
from recsys.service.metrics import Metrics
from recsys.service.model_store import ModelStore, ServedModel
from recsys.service.schemas import MAX_FILTER_LENGTH, MAX_ID_LENGTH, MAX_K, Audience

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


async def list_filters(
    library: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_FILTER_LENGTH, description="branch library id"),
    ] = None,
    available_only: Annotated[
        bool, Query(description="only books with a copy on the shelf (at `library` if given)")
    ] = False,
    audience: Annotated[
        Audience | None, Query(description="children, young_adult or adult")
    ] = None,
    format: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER_LENGTH,
            description="catalog format, e.g. book, ebook",
        ),
    ] = None,
    language: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER_LENGTH,
            description="catalog language code, e.g. eng",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None, Query(description="book ids never to list (repeatable)")
    ] = None,
) -> ListFilters:
    """The list filters shared by every list route."""
    excluded = tuple(exclude or ())
    for book_id in excluded:
        if not 1 <= len(book_id) <= MAX_ID_LENGTH:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"exclude holds a book id of {len(book_id)} characters; "
                f"ids have 1 to {MAX_ID_LENGTH}",
            )
    return ListFilters(
        library=library,
        available_only=available_only,
        audience=audience,
        format=format,
        language=language,
        exclude=excluded,
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
ServedDep = Annotated[ServedModel, Depends(get_served)]
EngineDep = Annotated[Engine, Depends(get_engine)]
PseudonymizerDep = Annotated[Pseudonymizer, Depends(get_pseudonymizer)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
FiltersDep = Annotated[ListFilters, Depends(list_filters)]
K = Annotated[int, Query(ge=1, le=MAX_K, description="list length")]

ReaderKey = Depends(require_scope(READER_SCOPE))
AdminKey = Depends(require_scope(ADMIN_SCOPE))
PublicKey = Depends(require_scope(READER_SCOPE, unless_public=True))
