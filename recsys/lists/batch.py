"""Batch lists for the library's own systems, made by the list pipeline from the published model.

Reader ids come in raw (as in the loan exports) and go out raw: they are pseudonymized only to look
the reader up, and the output stays with the library. Each reader's list is the one the service
answers for the same request, item for item: the same consent rule, loans newer than the model
folded in, the same librarians' rules, the same padding and reasons (`recsys.lists.pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.curation.rules import CurationSet
from recsys.curation.source import CurationSource
from recsys.db.reader_state import consent_and_loans
from recsys.lists import pipeline
from recsys.lists.catalog import ListFilters
from recsys.lists.query import ListQuery
from recsys.lists.render import items
from recsys.lists.served import ServedModel, build_served
from recsys.privacy import Pseudonymizer

#: Columns of `recsys recommend` (the first four are the historical contract; more are appended).
READER_COLUMNS = [
    C.READER_ID,
    C.RANK,
    C.BOOK_ID,
    C.SCORE,
    C.TITLE,
    C.AUTHOR,
    C.REASON,
    C.AVAILABILITY,
]
#: Columns of `recsys recommend-group`.
GROUP_COLUMNS = [C.RANK, C.BOOK_ID, C.SCORE, C.TITLE, C.AUTHOR, C.REASON, C.AVAILABILITY]
#: Columns of `recsys similar`.
BOOK_COLUMNS = [
    C.BOOK_ID,
    C.RANK,
    C.SIMILAR_BOOK_ID,
    C.SCORE,
    C.TITLE,
    C.AUTHOR,
    C.REASON,
    C.AVAILABILITY,
]


def serve_for_batch(bundle: Bundle, engine: Engine, settings: Settings) -> ServedModel:
    """The published bundle ready to make lists, as the service loads it."""
    return build_served(bundle, engine, min_readers=settings.min_pair_support)


def recommend_readers(
    served: ServedModel,
    engine: Engine,
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    raw_ids: Sequence[str],
    *,
    k: int,
) -> pd.DataFrame:
    """`READER_COLUMNS` with the raw ids given, k rows per reader, in the order given."""
    raw_ids = list(dict.fromkeys(r.strip() for r in raw_ids if r.strip()))
    pseudonyms = pseudonymizer.pseudonymize_many(raw_ids)
    served.readers.prepare(pseudonyms)
    curation = _curation(engine, served)
    query = ListQuery(k=k)
    records = []
    for raw, pseudonym in zip(raw_ids, pseudonyms, strict=True):
        history = consent_and_loans(engine, settings, reader_id=pseudonym)
        if history is None:
            ranked = pipeline.non_personal_list(served, curation, query=query)
        else:
            ranked = pipeline.reader_list(
                served, curation, reader=pseudonym, history=history, query=query
            )
        for item in items(served, ranked):
            records.append((raw, item["rank"], item["book_id"], item["score"], *_shown(item)))
    return pd.DataFrame(records, columns=READER_COLUMNS)


def similar_for_books(
    served: ServedModel, engine: Engine | None, book_ids: Sequence[str], *, k: int
) -> pd.DataFrame:
    """`BOOK_COLUMNS`; books not in the served catalog get no rows."""
    books = list(dict.fromkeys(b.strip() for b in book_ids if b.strip()))
    curation = _curation(engine, served)
    query = ListQuery(k=k)
    records = []
    for book in books:
        if book not in served.catalog:
            continue
        ranked = pipeline.book_list(served, curation, book_id=book, query=query)
        for item in items(served, ranked):
            records.append((book, item["rank"], item["book_id"], item["score"], *_shown(item)))
    return pd.DataFrame(records, columns=BOOK_COLUMNS)


def recommend_group(
    served: ServedModel,
    engine: Engine,
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    raw_members: Sequence[str],
    past_reads: Sequence[str],
    *,
    k: int,
    min_copies: int = 1,
    library: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """`GROUP_COLUMNS` of a book club's list (`pipeline.group_list`, as `POST
    /groups/recommendations` answers it) and how many members' histories were used."""
    members = []
    for pseudonym in pseudonymizer.pseudonymize_many(
        list(dict.fromkeys(r.strip() for r in raw_members if r.strip()))
    ):
        history = consent_and_loans(engine, settings, reader_id=pseudonym)
        if history is not None:
            members.append((pseudonym, history))
    ranked = pipeline.group_list(
        served,
        _curation(engine, served),
        members=members,
        past_reads=[b.strip() for b in past_reads if b.strip()],
        query=ListQuery(ListFilters(library=library), k),
        held=served.catalog.lendable_to_group(min_copies, library),
    )
    records = [
        (item["rank"], item["book_id"], item["score"], *_shown(item))
        for item in items(served, ranked)
    ]
    return pd.DataFrame(records, columns=GROUP_COLUMNS), sum(1 for _, h in members if len(h))


def _curation(engine: Engine | None, served: ServedModel) -> CurationSet:
    source = CurationSource(engine)
    source.refresh()
    return source.current(served)


def _shown(item: dict[str, object]) -> tuple[object, object, object, object]:
    return item["title"], item["author"], item["reason"], item["availability"]
