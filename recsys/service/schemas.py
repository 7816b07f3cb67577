"""Request and response models of the service (they shape the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.query import MAX_FILTER_LENGTH, MAX_K

MAX_SESSION_BOOKS = 200

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
    availability: Literal["local", "consortium"] | None = Field(
        default=None,
        description="local: the library the list is for holds it; consortium: only other "
        "member libraries do; null: no library does, or the list names no one library",
    )


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
    detail: str | None = Field(
        default=None,
        description="what keeps the service from being ready, or which run is served while the "
        "published one is refused",
    )


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
    detail: str | None = Field(default=None, description="why a run was refused (no paths)")


class ErrorDetail(BaseModel):
    detail: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ValidationProblem]


RuleKind = Literal["pin", "boost", "bury", "suppress", "never_pair", "staff_pick"]


class RuleIn(BaseModel):
    """A librarian's rule (see the README's "Curation" section for what each kind does)."""

    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    book_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    anchor_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="pin: the book whose per-book list holds it; never_pair: the other book",
    )
    position: int | None = Field(default=None, ge=1, le=MAX_K, description="pin, staff_pick")
    factor: float | None = Field(default=None, gt=0, description="boost (> 1), bury (< 1)")
    label: str | None = Field(default=None, min_length=1, max_length=200, description="staff_pick")
    library_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    audience: Audience | None = None
    starts_at: datetime | None = Field(default=None, description="default: now")
    expires_at: datetime | None = Field(default=None, description="default: never")
    reason: str = Field(min_length=1, max_length=2000, description="why, for the audit trail")


class RuleOut(RuleIn):
    rule_id: int
    created_by: str = Field(description="the admin key's name, or the CLI user")
    created_at: datetime
    summary: str


class Rules(BaseModel):
    rules: list[RuleOut]
    curation_version: int = Field(description="changes whenever a rule or reading list does")


class ReadingListBook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    book_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    note: str | None = Field(default=None, max_length=2000)


class ReadingListIn(BaseModel):
    """A reading list to publish (replacing the list of that id, if any)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=5000)
    audience: Audience | None = None
    library_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    books: list[ReadingListBook] = Field(min_length=1, max_length=500)


class ReadingListSummary(BaseModel):
    list_id: str
    title: str
    description: str | None = None
    audience: str | None = None
    library_id: str | None = None
    books: int = Field(description="how many books the list holds")


class ReadingListItem(BaseModel):
    position: int = Field(ge=1)
    book_id: str
    title: str | None = None
    author: str | None = None
    note: str | None = None


class ReadingListOut(ReadingListSummary):
    items: list[ReadingListItem]


class ReadingLists(BaseModel):
    lists: list[ReadingListSummary]


class GroupRequest(BaseModel):
    """A reading group (a book club): its members' ids and/or the books it read before."""

    model_config = ConfigDict(extra="forbid")

    reader_ids: list[str] = Field(default_factory=list, max_length=50)
    past_reads: list[str] = Field(default_factory=list, max_length=MAX_SESSION_BOOKS)
    min_copies: int = Field(
        default=1, ge=1, le=200, description="copies a branch must hold (or a book-club kit)"
    )
    k: int = Field(default=10, ge=1, le=MAX_K)
    library: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)
    available_only: bool = False
    audience: Audience | None = None
    format: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)
    language: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER_LENGTH)


class GroupRecommendations(ItemList):
    """Suggestions for a group; member ids are never echoed."""

    members_personalized: int = Field(
        description="members whose history was used (the others gave no consent or have none)"
    )


class ReadingListNeighbours(ItemList):
    """Books that readers of a reading list's books also borrowed."""

    list_id: str


#: The values of `recsys.columns.Feedback.ALL` (a test keeps them in step).
FeedbackKind = Literal["not_interested", "already_read", "liked"]


class FeedbackIn(BaseModel):
    """What a reader says about a book."""

    model_config = ConfigDict(extra="forbid")

    book_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    kind: FeedbackKind = Field(
        description="not_interested: never suggest it (nor another record of its work); "
        "already_read: borrowed elsewhere, bought, read long ago; liked"
    )


class FeedbackOut(BaseModel):
    """The feedback recorded (the reader id is never echoed)."""

    book_id: str
    kind: FeedbackKind
    replaced: list[FeedbackKind] = Field(
        description="feedback this one took back (liked and not_interested exclude each other)"
    )
    personalized: bool = Field(
        description="whether the reader gets personal suggestions, which the feedback shapes "
        "from the next request; without consent it is kept but used nowhere"
    )


class FeedbackWithdrawn(BaseModel):
    book_id: str
    withdrawn: list[FeedbackKind] = Field(description="the feedback on the book taken back")


class ExclusionIn(BaseModel):
    """A book to keep out of what feeds the reader's suggestions (the loan record stays)."""

    model_config = ConfigDict(extra="forbid")

    book_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)


class ExclusionOut(BaseModel):
    book_id: str
    excluded: bool = Field(description="whether the book is now kept out of what feeds them")
    changed: bool = Field(description="false when the book was already excluded")


class ProfileBook(BaseModel):
    book_id: str
    title: str | None = None
    author: str | None = None


class DatedEvent(BaseModel):
    event: str = Field(description="loan, renewal, hold, already_read or liked")
    at: str = Field(description="UTC time (ISO 8601)")


class FeedingBook(ProfileBook):
    events: list[DatedEvent]
    led_to: list[ProfileBook] = Field(
        description="suggestions of the reader's current list this book explains"
    )


class WithheldBook(ProfileBook):
    why: Literal["excluded", "not_interested"]
    since: str


class FeedbackGiven(ProfileBook):
    kind: FeedbackKind
    given_at: str


class ConsentState(BaseModel):
    personalized: bool = Field(description="whether the reader gets personal suggestions")
    answer: Literal["yes", "no"] | None = Field(description="the recorded answer (null: none)")
    answered_at: str | None = None
    consent_mode: Literal["opt-in", "opt-out"] = Field(
        description="the mode that applies to the reader (minors have their own)"
    )
    category: str | None = Field(description="child, young_adult or adult (null: unknown)")
    minor: bool


class Profile(BaseModel):
    """What feeds the reader's suggestions, and what they said and chose (no reader id)."""

    consent: ConsentState
    feeding: list[FeedingBook] = Field(description="the books that feed their suggestions")
    withheld: list[WithheldBook] = Field(description="books that never feed them nor show")
    feedback: list[FeedbackGiven]
    model_version: str | None
