"""A reader's own view of their data: the profile (what feeds their suggestions) and the export
(everything the service holds about them, for a data-access request).

Both are made for one pseudonym and name no other reader: they hold the reader's own rows, catalog
titles and the served model's version, never a reader id (the caller pseudonymized the raw id and
never echoes it, nor the pseudonym).

- **Profile** (`profile`): the books that feed the reader's suggestions, with the dates of the
  events that made them theirs (loans, and books they said they read or liked), the books they
  withheld (excluded, or not interested in) with when, their feedback, their consent state, and
  for each feeding book the suggestions of their current list it explains ("because you
  borrowed"): the list is made by the list pipeline, as the service answers it.
- **Export** (`export_document`, `export_table`): their consent answer and category, every loan
  event, catalog view, feedback and exclusion stored under their pseudonym, and what the served
  model holds of them (the books of its training row). JSON, or one CSV table whose cells are
  safe to open in a spreadsheet (`recsys.lists.render.write_csv`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.config import Settings
from recsys.consent import ConsentRule
from recsys.curation.rules import CurationSet
from recsys.db.reader_data import ReaderRecords, catalog_texts, reader_records
from recsys.db.reader_state import reader_rows
from recsys.lists import pipeline
from recsys.lists.history import read_rows
from recsys.lists.query import ListQuery

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel
    from recsys.models.base import Recommender

EXCLUDED = "excluded"
#: Columns of the CSV export, one row per record.
EXPORT_COLUMNS = (
    "record",
    C.BOOK_ID,
    C.TITLE,
    C.AUTHOR,
    "detail",
    "at",
    C.LIBRARY_ID,
    C.COPY_ID,
    C.SESSION_ID,
)


def consent_state(
    records: ReaderRecords, settings: Settings, *, personalized: bool
) -> dict[str, Any]:
    """The reader's consent answer, the mode that applies to them and its effect."""
    rule = ConsentRule.of(settings)
    minor = rule.is_minor(records.category)
    return {
        "personalized": personalized,
        "answer": None if records.consented is None else ("yes" if records.consented else "no"),
        "answered_at": iso(records.answered_at),
        "consent_mode": rule.minors_mode if minor else rule.mode,
        "category": records.category,
        "minor": minor,
    }


def profile(
    engine: Engine,
    settings: Settings,
    served: ServedModel | None,
    curation: CurationSet | None,
    *,
    reader_id: str,
    k: int = 10,
) -> dict[str, Any]:
    """The profile of the reader `reader_id` (a pseudonym); see the module docstring. Without a
    served model (or consent), nothing is suggested and no book leads anywhere."""
    read = read_rows(reader_rows(engine, reader_id=reader_id))
    personalized = ConsentRule.of(settings).allows(read.consented, read.category)
    records = reader_records(engine, reader_id=reader_id)
    texts = catalog_texts(engine, records.book_ids)
    history = read.history
    led_to: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if personalized and served is not None and curation is not None:
        ranked = pipeline.reader_list(
            served, curation, reader=reader_id, history=history, query=ListQuery(k=k)
        )
        book_ids = served.catalog.book_ids
        for position, source in zip(ranked.positions.tolist(), _sources(ranked), strict=True):
            if source >= 0:
                suggested = str(book_ids[position])
                led_to[str(book_ids[source])].append(_book(suggested, texts, served))
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if personalized:
        for book, event, at in zip(
            history.book_ids, history.events, history.seconds.tolist(), strict=True
        ):
            events[book].append({"event": event, "at": iso(at)})
    excluded = set(records.exclusions[C.BOOK_ID].astype(str))
    return {
        "consent": consent_state(records, settings, personalized=personalized),
        "feeding": [
            {**_book(book, texts), "events": dated, "led_to": led_to.get(book, [])}
            for book, dated in sorted(events.items(), key=lambda e: e[1][-1]["at"], reverse=True)
        ],
        "withheld": [
            {
                **_book(book, texts),
                "why": EXCLUDED if book in excluded else Feedback.NOT_INTERESTED,
                "since": iso(at),
            }
            for book, at in zip(history.withheld, history.withheld_at, strict=True)
        ],
        "feedback": _feedback(records, texts),
        "model_version": None if served is None else served.version,
    }


def export_document(
    engine: Engine,
    settings: Settings,
    *,
    reader_id: str,
    model: Recommender | None,
    model_version: str | None,
) -> dict[str, Any]:
    """Everything the service holds about the reader `reader_id` (a pseudonym), as one JSON
    document; `model` is the served model (None: none is published)."""
    records = reader_records(engine, reader_id=reader_id)
    trained = [] if model is None else model.training_books(reader_id)
    texts = catalog_texts(engine, [*records.book_ids, *trained])
    personalized = ConsentRule.of(settings).allows(records.consented, records.category)
    loans, views = records.loans, records.views
    return {
        "generated_at": iso(datetime.now(UTC).timestamp()),
        "consent": consent_state(records, settings, personalized=personalized),
        "category_recorded_at": iso(records.category_at),
        "loans": [
            {
                **_book(str(book), texts),
                "event": event,
                "at": iso(at),
                C.LIBRARY_ID: library,
                C.COPY_ID: copy,
            }
            for book, event, at, library, copy in loans.itertuples(index=False, name=None)
        ],
        "views": [
            {**_book(str(book), texts), "at": iso(at), C.SESSION_ID: session}
            for session, book, at in views.itertuples(index=False, name=None)
        ],
        "feedback": _feedback(records, texts),
        "exclusions": [
            {**_book(str(book), texts), "at": iso(at)}
            for book, at in records.exclusions.itertuples(index=False, name=None)
        ],
        "model": {
            "version": model_version,
            "holds_reader": bool(trained),
            "books": [_book(book, texts) for book in trained],
        },
    }


def export_table(document: dict[str, Any]) -> pd.DataFrame:
    """`export_document` as one table, `EXPORT_COLUMNS`, one row per record."""
    consent = document["consent"]
    rows: list[dict[str, Any]] = [
        {
            "record": "consent",
            "detail": f"answer {consent['answer'] or 'none'}; mode {consent['consent_mode']}; "
            f"personalized {'yes' if consent['personalized'] else 'no'}",
            "at": consent["answered_at"],
        },
        {
            "record": "category",
            "detail": consent["category"] or "none",
            "at": document["category_recorded_at"],
        },
    ]
    rows += [{"record": "loan", "detail": row["event"], **row} for row in document["loans"]]
    rows += [{"record": "view", **row} for row in document["views"]]
    rows += [
        {"record": "feedback", "detail": row["kind"], "at": row["given_at"], **row}
        for row in document["feedback"]
    ]
    rows += [{"record": "exclusion", **row} for row in document["exclusions"]]
    model = document["model"]
    rows += [
        {"record": "model", "detail": f"training row of model {model['version']}", **row}
        for row in model["books"]
    ]
    return pd.DataFrame(rows).reindex(columns=list(EXPORT_COLUMNS))


def iso(seconds: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC, to the second (None stays None)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _book(
    book_id: str, texts: dict[str, tuple[str | None, ...]], served: ServedModel | None = None
) -> dict[str, Any]:
    title, author = texts.get(book_id, (None, None))
    if title is None and served is not None and book_id in served.catalog:
        position = served.catalog.position[book_id]
        title, author = served.catalog.titles[position], served.catalog.authors[position]
    return {C.BOOK_ID: book_id, C.TITLE: title, C.AUTHOR: author}


def _feedback(
    records: ReaderRecords, texts: dict[str, tuple[str | None, ...]]
) -> list[dict[str, Any]]:
    return [
        {**_book(str(book), texts), "kind": kind, "given_at": iso(at)}
        for book, kind, at in records.feedback.itertuples(index=False, name=None)
    ]


def _sources(ranked: pipeline.RankedList) -> list[int]:
    if ranked.sources is None:
        return [-1] * len(ranked.positions)
    return [int(s) for s in ranked.sources.tolist()]
