"""The one place column names are spelled.

Every DataFrame, CSV contract and database table uses these names, so a rename happens here only.
"""

from __future__ import annotations

from typing import Final


class Columns:
    """Canonical column names shared by ingest, the store, the models and the service."""

    READER_ID: Final = "reader_id"
    BOOK_ID: Final = "book_id"
    SIMILAR_BOOK_ID: Final = "similar_book_id"
    BORROWED_AT: Final = "borrowed_at"
    EVENT: Final = "event"
    LIBRARY_ID: Final = "library_id"
    COPY_ID: Final = "copy_id"
    SESSION_ID: Final = "session_id"
    VIEWED_AT: Final = "viewed_at"
    TIMESTAMP: Final = "timestamp"
    WEIGHT: Final = "weight"

    TITLE: Final = "title"
    AUTHOR: Final = "author"
    SUBJECTS: Final = "subjects"
    ISBN: Final = "isbn"
    LANGUAGE: Final = "language"
    AUDIENCE: Final = "audience"
    YEAR: Final = "year"
    WORK_ID: Final = "work_id"
    FORMAT: Final = "format"

    # Read from MARC records to group records into works (not columns of CSV catalogs)
    FILING_TITLE: Final = "filing_title"
    TITLE_PART: Final = "title_part"
    UNIFORM_TITLE: Final = "uniform_title"
    SERIES: Final = "series"
    ISBNS: Final = "isbns"
    RECORD_IDS: Final = "record_ids"
    OTHER_EDITIONS: Final = "other_editions"

    # A record's work evidence and its derived work (table book_works)
    TITLE_KEY: Final = "title_key"
    MAIN_TITLE_KEY: Final = "main_title_key"
    UNIFORM_TITLE_KEY: Final = "uniform_title_key"
    AUTHOR_KEY: Final = "author_key"
    SERIES_KEY: Final = "series_key"
    IDENTIFIERS: Final = "identifiers"
    WORK_KEY: Final = "work_key"

    COPIES: Final = "copies"
    AVAILABLE: Final = "available"

    CONSENTED: Final = "consented"
    UPDATED_AT: Final = "updated_at"

    SCORE: Final = "score"
    RANK: Final = "rank"
    REASON: Final = "reason"


class Events:
    """Kinds of reader-book interaction, from strongest to weakest signal."""

    LOAN: Final = "loan"
    RENEWAL: Final = "renewal"
    HOLD: Final = "hold"
    VIEW: Final = "view"

    LOAN_EVENTS: Final = (LOAN, RENEWAL, HOLD)
    ALL: Final = (LOAN, RENEWAL, HOLD, VIEW)


class Audiences:
    """Audience values of the catalog (MARC 008/22 is mapped onto these)."""

    CHILDREN: Final = "children"
    YOUNG_ADULT: Final = "young_adult"
    ADULT: Final = "adult"

    ALL: Final = (CHILDREN, YOUNG_ADULT, ADULT)


SUBJECT_SEPARATOR: Final = "; "
