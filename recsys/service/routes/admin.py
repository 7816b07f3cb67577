"""Operator routes (API key with scope `admin`)."""

from __future__ import annotations

from fastapi import APIRouter

from recsys.service.deps import AdminKey, StoreDep
from recsys.service.schemas import ErrorDetail, ReloadResult

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResult,
    dependencies=[AdminKey],
    responses={401: {"model": ErrorDetail}, 403: {"model": ErrorDetail}},
)
def reload(store: StoreDep) -> ReloadResult:
    """Load the published model now (retrying one refused before)."""
    outcome = store.refresh(force=True)
    return ReloadResult(
        outcome=outcome.outcome, model_version=outcome.model_version, detail=outcome.detail
    )
