"""Reader privacy: the public `/privacy` statement, and admin erasure and consent routes.

`/privacy` is built from the running configuration and the served model's manifest, so it can
never drift from what the service does. Admin routes take the raw reader id (as the catalog
knows it), pseudonymize it like every route (with the store's key chain, checked first), and
answer counts and states, never the id. A 200 means everything the answer says was done: an
erasure that could not purge a saved run, or whose purged model the service could not load,
answers 500 and says what was done.
"""

from __future__ import annotations

import logging
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from recsys import erasure
from recsys.artifacts import erasures_applied
from recsys.consent import may_personalize, set_consent
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.nightly.lock import LockUnavailableError
from recsys.service.deps import AdminKey, EngineDep, PseudonymizerDep, SettingsDep, StoreDep
from recsys.service.key_watch import STALE_KEY
from recsys.service.schemas import ErrorDetail
from recsys.store_key import KeyMismatchError, check_store_key

logger = logging.getLogger(__name__)
router = APIRouter(tags=["privacy"])

ReaderId = Annotated[
    str,
    Path(
        min_length=1, max_length=MAX_ID_LENGTH, description="the reader's id in the library system"
    ),
]
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail},
    403: {"model": ErrorDetail},
    500: {"model": ErrorDetail},
    503: {"model": ErrorDetail},
}

COLLECTED = (
    "loans, renewals and holds: reader pseudonym, book, time, branch, copy",
    "catalog page views: session, book, time; the reader only when logged in and consenting",
    "consent answers: reader pseudonym, yes or no, time of the answer",
    "catalog records and holdings (no personal data)",
    "counts of erasures and key rotations (no reader ids)",
)
PSEUDONYMIZATION = (
    "reader ids are replaced at ingest and at every route by a keyed HMAC-SHA256 pseudonym; raw "
    "ids are never stored or logged, and the key is kept outside the database and models"
)
SESSIONS = (
    "browse sessions are anonymous unless the reader was logged in and consents; suggestions "
    "for a session are computed without storing it"
)


class ModelInfo(BaseModel):
    """When the served model was trained, and on which data window."""

    version: str = Field(description="run id of the served model")
    trained_at: str | None = Field(description="UTC time the model was saved (ISO 8601)")
    first_event: str | None = None
    last_event: str | None = None


class PrivacyStatement(BaseModel):
    """What the service collects and how it protects readers, from the live configuration."""

    collected: list[str]
    pseudonymization: str
    retention_days: int = Field(description="loans and views older than this are deleted nightly")
    consent_mode: str = Field(description="opt-in or opt-out")
    min_pair_support: int = Field(
        description="k: two books are linked only when at least k distinct readers borrowed both"
    )
    sessions: str
    kept_model_runs: int
    model: ModelInfo | None = Field(description="the served model; null while none is loaded")


class ErasureResponse(BaseModel):
    """The outcome of an erasure (counts only)."""

    erased: bool = Field(
        default=True, description="always true: the reader is gone from the store and the models"
    )
    loans_deleted: int
    views_deleted: int
    runs_purged: int = Field(description="saved model runs re-written without the reader")
    personalized: bool = Field(description="whether the reader still gets personal suggestions")


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consented: bool = Field(description="true: personal suggestions allowed; false: objection")


class ConsentResponse(BaseModel):
    """The recorded answer and its effect (the reader id is never echoed)."""

    consented: bool
    recorded: bool = Field(
        default=True,
        description="always true: an answer given here takes effect at once, whatever is stored",
    )
    consent_mode: str
    personalized: bool = Field(description="whether the reader now gets personal suggestions")


@router.get("/privacy", response_model=PrivacyStatement)
def privacy_statement(request: Request, settings: SettingsDep) -> PrivacyStatement:
    """What is collected, for how long, consent mode, k, and when the model was trained."""
    served = request.app.state.store.served
    model = None
    if served is not None:
        manifest = served.bundle.manifest
        data = manifest.get("data") or {}
        model = ModelInfo(
            version=served.version,
            trained_at=manifest.get("created_at"),
            first_event=data.get("first_event"),
            last_event=data.get("last_event"),
        )
    return PrivacyStatement(
        collected=list(COLLECTED),
        pseudonymization=PSEUDONYMIZATION,
        retention_days=settings.retention_days,
        consent_mode=settings.consent_mode,
        min_pair_support=settings.min_pair_support,
        sessions=SESSIONS,
        kept_model_runs=settings.keep_runs,
        model=model,
    )


@router.delete(
    "/admin/readers/{reader_id}",
    response_model=ErasureResponse,
    dependencies=[AdminKey],
    responses=ADMIN_ERRORS,
)
def erase_reader(
    reader_id: ReaderId,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    settings: SettingsDep,
    store: StoreDep,
) -> ErasureResponse:
    """Erase a reader: delete their loans and views, stop personalizing them, purge the models."""
    pseudonyms = pseudonymizer.pseudonyms(reader_id)
    try:
        check_store_key(engine, pseudonymizer)
        outcome = erasure.erase_reader(engine, FilePath(settings.models_dir), pseudonyms=pseudonyms)
        personalized = may_personalize(engine, settings, reader_id=pseudonyms[-1])
    except SQLAlchemyError as error:
        raise _unavailable(error) from None
    except KeyMismatchError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STALE_KEY) from None
    except erasure.ErasureIncompleteError as error:
        logger.error("erasure incomplete: %s", error)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "the reader was erased from the store and personal suggestions are off, but saved "
            "model runs could not be purged (see the service log); they are not served until "
            "they are. Repeat the request once the cause is fixed",
        ) from None
    except LockUnavailableError as error:
        logger.error("erasure not started: %s", error)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "nothing was erased: the service cannot take the erasure lock in its models "
            "directory (see the service log)",
        ) from None
    store.refresh()  # serve the purged published model now, not at the next poll
    served = store.served
    if served is not None and erasures_applied(served.bundle.manifest) < outcome.store.erasure_id:
        logger.error("erasure: the purged published model could not be loaded yet")
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "the reader was erased from the store and the saved model runs, but this service "
            "could not load the purged published model yet and still serves the one in memory "
            "(see the service log); it tries again at every poll",
        )
    return ErasureResponse(
        loans_deleted=outcome.store.loans_deleted,
        views_deleted=outcome.store.views_deleted,
        runs_purged=len(outcome.runs.purged),
        personalized=personalized,
    )


@router.put(
    "/admin/readers/{reader_id}/consent",
    response_model=ConsentResponse,
    dependencies=[AdminKey],
    responses=ADMIN_ERRORS,
)
def put_consent(
    reader_id: ReaderId,
    body: ConsentRequest,
    engine: EngineDep,
    pseudonymizer: PseudonymizerDep,
    settings: SettingsDep,
) -> ConsentResponse:
    """Record a reader's consent (true) or objection (false); effective from the next request."""
    pseudonym = pseudonymizer.pseudonymize(reader_id)
    try:
        check_store_key(engine, pseudonymizer)
        set_consent(engine, reader_id=pseudonym, consented=body.consented)
        personalized = may_personalize(engine, settings, reader_id=pseudonym)
    except SQLAlchemyError as error:
        raise _unavailable(error) from None
    except KeyMismatchError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STALE_KEY) from None
    return ConsentResponse(
        consented=body.consented, consent_mode=settings.consent_mode, personalized=personalized
    )


def _unavailable(error: SQLAlchemyError) -> HTTPException:
    logger.error("privacy route: database unavailable: %s", type(error).__name__)
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, "the database does not answer; try again shortly"
    )
