"""Batch lists for the library's own systems, from the published model.

Reader ids come in raw (as in the loan exports) and go out raw: they are pseudonymized only to look
the reader up, and the output stays with the library. Loans newer than the model are folded in so
that nobody is offered a book they borrowed last week. Readers who may not be personalized (consent
mode, objection, erasure) get the model's non-personal list, exactly as in the service.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.consent import personalizable
from recsys.db.queries import reader_history
from recsys.display import readable
from recsys.privacy import Pseudonymizer

BATCH = 512
# Never a pseudonym (those are hex), so the model answers it with its non-personal fallback.
NON_PERSONAL_READER = "<non-personal>"


def recommend_readers(
    bundle: Bundle,
    engine: Engine,
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    raw_ids: Sequence[str],
    *,
    k: int,
) -> pd.DataFrame:
    """``[reader_id, rank, book_id, score, title, author]`` with the raw ids given, k rows per
    reader (title and author as readers see them)."""
    raw_ids = list(dict.fromkeys(r.strip() for r in raw_ids if r.strip()))
    pseudonyms = pseudonymizer.pseudonymize_many(raw_ids)
    back = dict(zip(pseudonyms, raw_ids, strict=True))
    allowed = personalizable(engine, settings, pseudonyms)
    personal = [p for p in pseudonyms if p in allowed]
    reference = getattr(bundle.model, "reference_time_", None)
    frames = [_non_personal(bundle, [p for p in pseudonyms if p not in allowed], k=k)]
    for start in range(0, len(personal), BATCH):
        chunk = personal[start : start + BATCH]
        history = _newer_loans(engine, chunk, reference)
        frames.append(bundle.model.recommend(chunk, k=k, history=history))
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[C.READER_ID, C.BOOK_ID, C.SCORE, C.RANK])
    )
    order = {pseudonym: position for position, pseudonym in enumerate(pseudonyms)}
    out = out.assign(_order=out[C.READER_ID].map(order)).sort_values(
        ["_order", C.RANK], kind="stable"
    )
    out[C.READER_ID] = out[C.READER_ID].map(back)
    out = out[[C.READER_ID, C.RANK, C.BOOK_ID, C.SCORE]].reset_index(drop=True)
    return _with_titles(out, bundle, C.BOOK_ID)


def _non_personal(bundle: Bundle, pseudonyms: Sequence[str], *, k: int) -> pd.DataFrame:
    """The same non-personal list for each of `pseudonyms` (readers who may not be profiled)."""
    popular = bundle.model.recommend([NON_PERSONAL_READER], k=k)
    if not pseudonyms:
        return popular.iloc[0:0]
    repeated = pd.concat([popular] * len(pseudonyms), ignore_index=True)
    repeated[C.READER_ID] = [p for p in pseudonyms for _ in range(len(popular))]
    return repeated


def similar_for_books(bundle: Bundle, book_ids: Sequence[str], *, k: int) -> pd.DataFrame:
    """``[book_id, rank, similar_book_id, score, title, author]`` (title and author of the
    similar book, as readers see them); books unknown to the model get no rows."""
    books = list(dict.fromkeys(b.strip() for b in book_ids if b.strip()))
    frame = bundle.model.similar_books(books, k=k)
    frame = frame[[C.BOOK_ID, C.RANK, C.SIMILAR_BOOK_ID, C.SCORE]].reset_index(drop=True)
    return _with_titles(frame, bundle, C.SIMILAR_BOOK_ID)


def _with_titles(frame: pd.DataFrame, bundle: Bundle, column: str) -> pd.DataFrame:
    """`frame` with the clean title and author of the book in `column`, from the bundle's
    catalog snapshot (empty for a book the snapshot does not describe)."""
    catalog = readable(bundle.catalog.drop_duplicates(C.BOOK_ID))
    catalog = catalog.set_index(catalog[C.BOOK_ID].astype(str))
    books = frame[column].astype(str)
    return frame.assign(
        **{
            name: books.map(catalog[name]) if name in catalog else None
            for name in (C.TITLE, C.AUTHOR)
        }
    )


def _newer_loans(
    engine: Engine, pseudonyms: Sequence[str], reference: float | None
) -> pd.DataFrame | None:
    """Loans after the model's training data, for fold-in (None when there are none)."""
    frames = []
    for pseudonym in pseudonyms:
        history = reader_history(engine, reader_id=pseudonym)
        history = history[history[C.EVENT].isin(Events.LOAN_EVENTS)]
        if reference is not None:
            history = history[history[C.TIMESTAMP] > pd.Timestamp(reference, unit="s", tz="UTC")]
        if not history.empty:
            frames.append(history.assign(**{C.READER_ID: pseudonym}))
    return pd.concat(frames, ignore_index=True) if frames else None
