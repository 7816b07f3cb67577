"""The input contracts: for each kind of export, its required and optional canonical columns.

These are what the README documents and what `recsys ingest KIND PATH` accepts; other exports'
column names are mapped onto these with ``--columns book_id=i,reader_id=u``.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.columns import Columns as C
from recsys.exceptions import InputFormatError

#: The longest id (reader, book, library, copy, session, work) in characters, everywhere: ingest
#: quarantines longer ones, the store's id columns hold this many, the API refuses longer ones.
MAX_ID_LENGTH = 128
ID_COLUMNS = (C.READER_ID, C.BOOK_ID, C.LIBRARY_ID, C.COPY_ID, C.SESSION_ID, C.WORK_ID)


@dataclass(frozen=True)
class InputSchema:
    """One kind of input file and how its rows are keyed in the store."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: Columns identifying a row: a repeated key is a duplicate (events) or an update (upserts).
    key: tuple[str, ...]
    #: Upserted kinds replace stored rows with the same key; event kinds never do.
    upsert: bool
    #: The time of an event kind's rows, which the retention window applies to.
    event_time: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


LOANS = InputSchema(
    kind="loans",
    required=(C.READER_ID, C.BOOK_ID, C.BORROWED_AT),
    optional=(C.EVENT, C.LIBRARY_ID, C.COPY_ID),
    key=(C.READER_ID, C.BOOK_ID, C.BORROWED_AT, C.EVENT),
    upsert=False,
    event_time=C.BORROWED_AT,
)
VIEWS = InputSchema(
    kind="views",
    required=(C.SESSION_ID, C.BOOK_ID, C.VIEWED_AT),
    optional=(C.READER_ID,),
    key=(C.SESSION_ID, C.BOOK_ID, C.VIEWED_AT),
    upsert=False,
    event_time=C.VIEWED_AT,
)
CATALOG = InputSchema(
    kind="catalog",
    required=(C.BOOK_ID, C.TITLE),
    optional=(
        C.AUTHOR,
        C.SUBJECTS,
        C.ISBN,
        C.LANGUAGE,
        C.AUDIENCE,
        C.YEAR,
        C.WORK_ID,
        C.FORMAT,
    ),
    key=(C.BOOK_ID,),
    upsert=True,
)
HOLDINGS = InputSchema(
    kind="holdings",
    required=(C.BOOK_ID, C.LIBRARY_ID),
    optional=(C.COPIES, C.AVAILABLE),
    key=(C.BOOK_ID, C.LIBRARY_ID),
    upsert=True,
)

#: Copies (items) and the record each belongs to: how item-level loan exports find their books.
ITEMS = InputSchema(
    kind="items",
    required=(C.COPY_ID, C.BOOK_ID),
    optional=(C.LIBRARY_ID,),
    key=(C.COPY_ID,),
    upsert=True,
)

#: Consent answers (yes/no, true/false, 1/0), dated by `updated_at` or undated; which answer is in
#: force is `recsys.consent`'s rule (a refusal and a consent at the same time are both kept for it).
CONSENT = InputSchema(
    kind="consent",
    required=(C.READER_ID, C.CONSENTED),
    optional=(C.UPDATED_AT,),
    key=(C.READER_ID, C.UPDATED_AT, C.CONSENTED),
    upsert=True,
)

SCHEMAS: dict[str, InputSchema] = {
    s.kind: s for s in (LOANS, VIEWS, CATALOG, HOLDINGS, ITEMS, CONSENT)
}
KINDS: tuple[str, ...] = tuple(SCHEMAS)


def get_schema(kind: str) -> InputSchema:
    """The schema of `kind`, refusing an unknown kind with the list of known ones."""
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise InputFormatError(f"kind must be one of {list(KINDS)}; got {kind!r}") from None
