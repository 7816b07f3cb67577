"""Readers' voice (API key with scope `reader`): feedback on books, and the books they keep out of
what feeds their suggestions.

The catalog's server calls these for the logged-in reader, with the raw reader id (pseudonymized
here with the store's key chain, checked first) and never gets it back. Each change is honoured by
every list of the reader from their next request on (`recsys.lists.pipeline`) and learnt from at
the next nightly; the rules are `recsys.curation.feedback`'s.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys.columns import Feedback
from recsys.consent import may_personalize
from recsys.curation import feedback
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db.reader_data import catalog_texts
from recsys.service.deps import (
    EngineDep,
    MetricsDep,
    PseudonymizerDep,
    ReaderKey,
    SettingsDep,
    database_unavailable,
)
from recsys.service.routes.readers import ReaderId
from recsys.service.schemas import (
    ErrorDetail,
    ExclusionIn,
    ExclusionOut,
    FeedbackIn,
    FeedbackKind,
    FeedbackOut,
    FeedbackWithdrawn,
)

router = APIRouter(tags=["readers"], dependencies=[ReaderKey])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorDetail},
    403: {"model": ErrorDetail},
    404: {"model": ErrorDetail},
    503: {"model": ErrorDetail},
}
BookQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH, description="the book")]
GIVEN, WITHDRAWN = "given", "withdrawn"
EXCLUDED, INCLUDED = "excluded", "included"


@router.post(
    "/readers/{reader_id}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
def give_feedback(
    reader_id: ReaderId,
    body: FeedbackIn,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> FeedbackOut:
    """Record what the reader says about a book: not_interested, already_read or liked."""
    pseudonym = pseudonymizer.pseudonymize(reader_id)
    try:
        _require_book(engine, body.book_id)
        outcome = feedback.give_feedback(
            engine, reader_id=pseudonym, book_id=body.book_id, kind=body.kind
        )
        personalized = may_personalize(engine, settings, reader_id=pseudonym)
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader feedback") from None
    metrics.count_feedback(body.kind, GIVEN)
    replaced: list[FeedbackKind] = [k for _, _, k in sorted(outcome.removed)]  # type: ignore[misc]
    return FeedbackOut(
        book_id=body.book_id, kind=body.kind, replaced=replaced, personalized=personalized
    )


@router.delete("/readers/{reader_id}/feedback", response_model=FeedbackWithdrawn, responses=ERRORS)
def withdraw_feedback(
    reader_id: ReaderId,
    book_id: BookQuery,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    metrics: MetricsDep,
    kind: Annotated[
        FeedbackKind | None, Query(description="the feedback to take back (default: all)")
    ] = None,
) -> FeedbackWithdrawn:
    """Take back the reader's feedback on a book (one kind, or all of it)."""
    kinds = Feedback.ALL if kind is None else (kind,)
    try:
        withdrawn = feedback.withdraw_feedback(
            engine, reader_id=pseudonymizer.pseudonymize(reader_id), book_id=book_id, kinds=kinds
        )
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader feedback") from None
    if not withdrawn:
        what = "feedback" if kind is None else f"{kind} feedback"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the reader gave no {what} on this book")
    for taken in withdrawn:
        metrics.count_feedback(taken, WITHDRAWN)
    return FeedbackWithdrawn(book_id=book_id, withdrawn=withdrawn)  # type: ignore[arg-type]


@router.post(
    "/readers/{reader_id}/profile/exclusions", response_model=ExclusionOut, responses=ERRORS
)
def exclude_book(
    reader_id: ReaderId,
    body: ExclusionIn,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    metrics: MetricsDep,
) -> ExclusionOut:
    """Keep a book out of what feeds the reader's suggestions, now and at every training; the
    library keeps its loan record."""
    try:
        _require_book(engine, body.book_id)
        changed = feedback.exclude_book(
            engine, reader_id=pseudonymizer.pseudonymize(reader_id), book_id=body.book_id
        )
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader feedback") from None
    if changed:
        metrics.count_exclusion(EXCLUDED)
    return ExclusionOut(book_id=body.book_id, excluded=True, changed=changed)


@router.delete(
    "/readers/{reader_id}/profile/exclusions", response_model=ExclusionOut, responses=ERRORS
)
def include_book(
    reader_id: ReaderId,
    book_id: BookQuery,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    metrics: MetricsDep,
) -> ExclusionOut:
    """Let an excluded book feed the reader's suggestions again (404 if it was not excluded)."""
    try:
        changed = feedback.include_book(
            engine, reader_id=pseudonymizer.pseudonymize(reader_id), book_id=book_id
        )
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader feedback") from None
    if not changed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the reader did not exclude this book")
    metrics.count_exclusion(INCLUDED)
    return ExclusionOut(book_id=book_id, excluded=False, changed=True)


def _require_book(engine: Engine, book_id: str) -> None:
    """404 unless the catalog holds `book_id` (a record id, not a copy's barcode). The value is
    not echoed: a caller that mixed up its fields may have sent a card number."""
    if not catalog_texts(engine, [book_id]):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "book_id is not a record of the catalog (give the record's id, not a copy's barcode)",
        )
