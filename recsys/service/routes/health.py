"""Liveness, readiness and the served model's version."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata

from fastapi import APIRouter, Response, status
from sqlalchemy.exc import SQLAlchemyError

from recsys.db.queries import ping
from recsys.service.deps import EngineDep, ServedDep, StoreDep
from recsys.service.schemas import ErrorDetail, Liveness, Readiness, Version

router = APIRouter(tags=["operations"])


@router.get("/health/live", response_model=Liveness)
async def live() -> Liveness:
    """The process answers."""
    return Liveness()


@router.get("/health/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(response: Response, store: StoreDep, engine: EngineDep) -> Readiness:
    """Ready when a model is loaded and the database answers (503 otherwise).

    `detail` also says when the published model cannot be served and which run is served.
    """
    served = store.served
    try:
        ping(engine)
        database = True
    except SQLAlchemyError:
        database = False
    is_ready = served is not None and database
    if not is_ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    problems = (
        store.last_error or (None if served is not None else "no model loaded yet"),
        None if database else "the database does not answer",
    )
    return Readiness(
        status="ready" if is_ready else "not ready",
        model_loaded=served is not None,
        database=database,
        model_version=served.version if served else None,
        detail="; ".join(p for p in problems if p) or None,
    )


@router.get("/version", response_model=Version, responses={503: {"model": ErrorDetail}})
async def version(served: ServedDep) -> Version:
    """The model being served (run id, name, parameters) and the service version."""
    manifest = served.bundle.manifest
    try:
        service_version = metadata.version("recsys")
    except metadata.PackageNotFoundError:
        service_version = "unknown"
    return Version(
        model_version=served.version,
        model=manifest["model"]["name"],
        created_at=manifest.get("created_at"),
        loaded_at=datetime.fromtimestamp(served.loaded_at, UTC).isoformat(timespec="seconds"),
        service_version=service_version,
        params=manifest["model"].get("params", {}),
    )
