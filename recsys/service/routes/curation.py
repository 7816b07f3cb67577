"""Librarians' rules and reading lists through the admin API (API key with scope `admin`).

Each change records the admin key's name (`KEY:admin:NAME` in the keys file) and the reason
given; it applies to this worker's lists from the next request on and to the other workers'
within `RECSYS_CURATION_POLL_SECONDS`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from recsys.curation import manage
from recsys.curation.manage import CurationError
from recsys.curation.rules import Rule
from recsys.service.auth import API_KEY_HEADER
from recsys.service.deps import AdminKey
from recsys.service.schemas import ErrorDetail, ReadingListIn, RuleIn, RuleOut, Rules

router = APIRouter(prefix="/admin", tags=["curation"], dependencies=[AdminKey])
#: Rule numbers are the store's 32-bit integer keys.
MAX_RULE_ID = 2**31 - 1
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorDetail},
    403: {"model": ErrorDetail},
    422: {"model": ErrorDetail},
}


def _who(request: Request) -> str:
    """The name of the admin key that made the request (the audit trail keeps names only)."""
    return request.app.state.api_keys.name_of(request.headers.get(API_KEY_HEADER, ""))


def _seconds(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def _out(rule: Rule) -> RuleOut:
    def when(seconds: int | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    return RuleOut(
        rule_id=rule.id,
        kind=rule.kind,  # type: ignore[arg-type]
        book_id=rule.book_id,
        anchor_id=rule.anchor_id,
        position=rule.position,
        factor=rule.factor,
        label=rule.label,
        library_id=rule.library_id,
        audience=rule.audience,  # type: ignore[arg-type]
        starts_at=when(rule.starts_at),
        expires_at=when(rule.expires_at),
        reason=rule.reason,
        created_by=rule.created_by,
        created_at=datetime.fromtimestamp(rule.created_at, UTC),
        summary=rule.summary(),
    )


async def _changed(request: Request) -> None:
    """Apply a change to this worker's lists from the next request on."""
    await run_in_threadpool(request.app.state.curation.refresh)


@router.post(
    "/curation/rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut, responses=ERRORS
)
async def add_rule(rule: RuleIn, request: Request) -> RuleOut:
    """Make a curation rule: it applies to every list at once, without retraining."""
    engine = request.app.state.engine
    try:
        made = await run_in_threadpool(
            lambda: manage.add_rule(
                engine,
                kind=rule.kind,
                book_id=rule.book_id,
                anchor_id=rule.anchor_id,
                position=rule.position,
                factor=rule.factor,
                label=rule.label,
                library_id=rule.library_id,
                audience=rule.audience,
                starts_at=_seconds(rule.starts_at),
                expires_at=_seconds(rule.expires_at),
                created_by=_who(request),
                reason=rule.reason,
            )
        )
    except CurationError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    await _changed(request)
    return _out(made)


@router.get("/curation/rules", response_model=Rules, responses=ERRORS)
async def list_rules(
    request: Request,
    include_removed: Annotated[bool, Query(description="also removed rules")] = False,
) -> Rules:
    """The curation rules in force (or every rule ever made), oldest first."""
    engine = request.app.state.engine
    found = await run_in_threadpool(lambda: manage.rules(engine, include_removed=include_removed))
    return Rules(
        rules=[_out(r) for r in found], curation_version=request.app.state.curation.version
    )


@router.delete(
    "/curation/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS
)
async def remove_rule(
    rule_id: Annotated[int, Path(ge=1, le=MAX_RULE_ID, description="the rule's number")],
    request: Request,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why")],
) -> Response:
    """End a rule now; it stays in the audit trail with who removed it and why."""
    engine = request.app.state.engine
    try:
        await run_in_threadpool(
            lambda: manage.remove_rule(engine, rule_id, removed_by=_who(request), reason=reason)
        )
    except CurationError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    await _changed(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/reading-lists/{list_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def publish_reading_list(list_id: str, body: ReadingListIn, request: Request) -> Response:
    """Publish a reading list under `list_id` (replacing the list of that id)."""
    engine = request.app.state.engine
    try:
        await run_in_threadpool(
            lambda: manage.save_reading_list(
                engine,
                list_id=list_id,
                title=body.title,
                description=body.description,
                audience=body.audience,
                library_id=body.library_id,
                books=[(b.book_id, b.note) for b in body.books],
                created_by=_who(request),
            )
        )
    except CurationError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    await _changed(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/reading-lists/{list_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def withdraw_reading_list(list_id: str, request: Request) -> Response:
    """Withdraw a reading list."""
    engine = request.app.state.engine
    try:
        await run_in_threadpool(lambda: manage.remove_reading_list(engine, list_id))
    except CurationError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    await _changed(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
