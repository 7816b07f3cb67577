"""Request and response models of the service (they shape the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The routes check ids against the limit ingest applies (defined once, in the data layer).
from recsys.data.schemas import MAX_ID_LENGTH as MAX_ID_LENGTH

MAX_K = 100
MAX_SESSION_BOOKS = 200
MAX_FILTER_LENGTH = 64

#: The values of `recsys.columns.Audiences.ALL` (a test keeps them in step).
Audience = Literal["children", "young_adult", "adult"]


class Item(BaseModel):
    """One recommended book."""

    book_id: str
    title: str | None = None
    author: str | None = None
    score: float
    rank: int = Field(ge=1)
    reason: str | None = Field(default=None, description="why it is on the list, for display")


class ItemList(BaseModel):
    items: list[Item]
    model_version: str = Field(description="run id of the model that answered")
    strategy: str = Field(
        description="how the list was made: personalized, fold-in, collaborative, content, "
        "session, popular or fallback:popular"
    )


class ReaderRecommendations(ItemList):
    """Recommendations for one reader (the reader id is never echoed)."""


class SimilarBooks(ItemList):
    """Books that readers of `book_id` also borrowed."""

    book_id: str


class PopularBooks(ItemList):
    """The most borrowed books, optionally per branch, audience and period."""

    library: str | None = None
    audience: str | None = None
    period: str


class SessionRequest(BaseModel):
    """Books viewed in an anonymous catalog session; nothing of it is stored."""

    model_config = ConfigDict(extra="forbid")

    book_ids: list[str] = Field(max_length=MAX_SESSION_BOOKS, description="viewed book ids")
    k: int = Field(default=10, ge=1, le=MAX_K)
    library: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)
    available_only: bool = False
    audience: Audience | None = None
    format: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)
    language: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)


class SessionRecommendations(ItemList):
    """Suggestions for an anonymous session."""


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    model_loaded: bool
    database: bool
    model_version: str | None = None
    detail: str | None = None


class Version(BaseModel):
    model_version: str
    model: str
    created_at: str | None = None
    loaded_at: str
    service_version: str
    params: dict[str, Any] = Field(default_factory=dict)


class ReloadResult(BaseModel):
    outcome: Literal["swapped", "unchanged", "refused", "nothing published"]
    model_version: str | None = Field(description="run id served after the reload")
    detail: str | None = None


class ErrorDetail(BaseModel):
    detail: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ValidationProblem]
