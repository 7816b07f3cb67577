"""A reader's own data (API key with scope `reader`): their profile, and everything the service
holds about them as JSON or CSV (`recsys.reader_data`). Answers are `private, no-store` and name
no reader id, raw or pseudonymous."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError

from recsys import reader_data
from recsys.lists.render import write_csv
from recsys.service.answers import PRIVATE_CACHE_CONTROL
from recsys.service.deps import (
    EngineDep,
    MetricsDep,
    PseudonymizerDep,
    ReaderKey,
    SettingsDep,
    database_unavailable,
)
from recsys.service.routes.readers import ReaderId
from recsys.service.schemas import ErrorDetail, Profile

router = APIRouter(tags=["readers"], dependencies=[ReaderKey])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorDetail},
    403: {"model": ErrorDetail},
    503: {"model": ErrorDetail},
}
EXPORT_FILE = "reader-data"
PRIVATE = {"Cache-Control": PRIVATE_CACHE_CONTROL.decode()}


@router.get("/readers/{reader_id}/profile", response_model=Profile, responses=ERRORS)
def profile(
    reader_id: ReaderId,
    request: Request,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """What feeds the reader's suggestions (with dates and the suggestions each led to), their
    feedback, the books they withheld and their consent state."""
    state = request.app.state
    served = state.store.served
    curation = None if served is None else state.curation.current(served)
    try:
        document = reader_data.profile(
            engine, settings, served, curation, reader_id=pseudonymizer.pseudonymize(reader_id)
        )
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader data") from None
    metrics.count_data_request("profile")
    return Response(to_json(document), media_type="application/json", headers=PRIVATE)


@router.get(
    "/readers/{reader_id}/export",
    responses={**ERRORS, 200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def export(
    reader_id: ReaderId,
    request: Request,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Response:
    """Everything the service holds about the reader, for a data-access request (JSON or CSV)."""
    served = request.app.state.store.served
    try:
        document = reader_data.export_document(
            engine,
            settings,
            reader_id=pseudonymizer.pseudonymize(reader_id),
            model=None if served is None else served.model,
            model_version=None if served is None else served.version,
        )
    except SQLAlchemyError as error:
        raise database_unavailable(error, "reader data") from None
    metrics.count_data_request(f"export_{format}")
    attachment = {"Content-Disposition": f'attachment; filename="{EXPORT_FILE}.{format}"'}
    if format == "json":
        return Response(
            to_json(document), media_type="application/json", headers={**PRIVATE, **attachment}
        )
    text = io.StringIO()
    write_csv(reader_data.export_table(document), text)
    return Response(
        text.getvalue(), media_type="text/csv; charset=utf-8", headers={**PRIVATE, **attachment}
    )
