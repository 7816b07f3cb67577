"""Librarians' reading lists: browse them, "readers of this list also borrowed", and where a
reader stands on a list ("continue this list")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recsys.curation.manage import ReadingList
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db.reader_state import consent_and_loans
from recsys.lists import pipeline
from recsys.lists.cache import Rendered
from recsys.lists.query import FILTERED, openapi_parameters
from recsys.lists.render import render
from recsys.service import answers
from recsys.service.deps import FilteredQuery, MetricsDep, PublicKey, ReaderKey, ServedDep
from recsys.service.routes.readers import ReaderId
from recsys.service.schemas import (
    Audience,
    ErrorDetail,
    ReaderRecommendations,
    ReadingListItem,
    ReadingListNeighbours,
    ReadingListOut,
    ReadingLists,
    ReadingListSummary,
)

router = APIRouter(tags=["reading lists"])
ListId = Annotated[str, Path(min_length=1, max_length=64, description="the reading list's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorDetail}}


def _find(request: Request, list_id: str) -> ReadingList:
    found = request.app.state.curation.reading_lists().get(list_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published reading list {list_id!r}")
    return found


def _summary(found: ReadingList) -> ReadingListSummary:
    return ReadingListSummary(
        list_id=found.list_id,
        title=found.title,
        description=found.description,
        audience=found.audience,
        library_id=found.library_id,
        books=len(found.books),
    )


@router.get("/lists", response_model=ReadingLists, dependencies=[PublicKey])
async def reading_lists(
    request: Request,
    library: Annotated[
        str | None, Query(min_length=1, max_length=MAX_ID_LENGTH, description="branch")
    ] = None,
    audience: Annotated[Audience | None, Query(description="children, young_adult, adult")] = None,
) -> ReadingLists:
    """The published reading lists (for a branch: its own and the library-wide ones)."""
    found = request.app.state.curation.reading_lists().values()
    return ReadingLists(
        lists=[
            _summary(r)
            for r in found
            if (library is None or r.library_id in (None, library))
            and (audience is None or r.audience in (None, audience))
        ]
    )


@router.get(
    "/lists/{list_id}", response_model=ReadingListOut, dependencies=[PublicKey], responses=NOT_FOUND
)
async def reading_list(list_id: ListId, request: Request, served: ServedDep) -> ReadingListOut:
    """One reading list with its books in order (titles and authors as the catalog shows them)."""
    found = _find(request, list_id)
    catalog = served.catalog
    items = []
    for position, (book_id, note) in enumerate(found.books, start=1):
        at = catalog.position.get(book_id)
        items.append(
            ReadingListItem(
                position=position,
                book_id=book_id,
                title=None if at is None else catalog.titles[at],
                author=None if at is None else catalog.authors[at],
                note=note,
            )
        )
    return ReadingListOut(**_summary(found).model_dump(), items=items)


@router.get(
    "/lists/{list_id}/also-borrowed",
    response_model=ReadingListNeighbours,
    dependencies=[PublicKey],
    openapi_extra={"parameters": openapi_parameters(FILTERED)},
    responses={304: {"description": "not modified (If-None-Match)"}, **NOT_FOUND},
)
async def reading_list_neighbours(
    list_id: ListId, request: Request, served: ServedDep, metrics: MetricsDep, query: FilteredQuery
) -> Response:
    """Books that readers of the list's books also borrowed (the same for everyone)."""
    found = _find(request, list_id)
    state = request.app.state
    curation = state.curation.current(served)
    entry = await run_in_threadpool(
        answers.reading_list_neighbours, state.caches, served, curation, found, query
    )
    response = answers.public_response(request, entry)
    if response.status_code == status.HTTP_200_OK:
        metrics.count_strategy("reading_list", entry.strategy)
    return response


@router.get(
    "/readers/{reader_id}/lists/{list_id}/next",
    response_model=ReaderRecommendations,
    dependencies=[ReaderKey],
    openapi_extra={"parameters": openapi_parameters(FILTERED)},
    responses={401: {"model": ErrorDetail}, 403: {"model": ErrorDetail}, **NOT_FOUND},
)
async def continue_reading_list(
    reader_id: ReaderId, list_id: ListId, request: Request, served: ServedDep, query: FilteredQuery
) -> Response:
    """The books of a reading list this reader has not borrowed yet, in the list's order."""
    found = _find(request, list_id)
    state = request.app.state
    pseudonym = state.pseudonymizer.pseudonymize(reader_id)

    def answer() -> Rendered:
        try:
            history = consent_and_loans(state.engine, state.settings, reader_id=pseudonym)
        except SQLAlchemyError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the database does not answer"
            ) from None
        ranked = pipeline.continue_list(
            served,
            state.curation.current(served),
            books=[book for book, _ in found.books],
            history=history,
            query=query,
        )
        return Rendered(render(served, ranked), ranked.strategy)

    entry = await run_in_threadpool(answer)
    state.metrics.count_strategy("reading_list", entry.strategy)
    return answers.private_response(entry)
