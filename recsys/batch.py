"""Batch lists for the library's own systems, from the published model.

Reader ids come in raw (as in the loan exports) and go out raw: they are pseudonymized only to look
the reader up, and the output stays with the library. Loans newer than the model are folded in so
that nobody is offered a book they borrowed last week.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.db.queries import reader_history
from recsys.privacy import Pseudonymizer

BATCH = 512


def recommend_readers(
    bundle: Bundle, engine: Engine, pseudonymizer: Pseudonymizer, raw_ids: Sequence[str], *, k: int
) -> pd.DataFrame:
    """``[reader_id, rank, book_id, score]`` with the raw ids given, k rows per reader."""
    raw_ids = list(dict.fromkeys(r.strip() for r in raw_ids if r.strip()))
    pseudonyms = pseudonymizer.pseudonymize_many(raw_ids)
    back = dict(zip(pseudonyms, raw_ids, strict=True))
    reference = getattr(bundle.model, "reference_time_", None)
    frames = []
    for start in range(0, len(pseudonyms), BATCH):
        chunk = pseudonyms[start : start + BATCH]
        history = _newer_loans(engine, chunk, reference)
        frames.append(bundle.model.recommend(chunk, k=k, history=history))
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[C.READER_ID, C.BOOK_ID, C.SCORE, C.RANK])
    )
    out[C.READER_ID] = out[C.READER_ID].map(back)
    return out[[C.READER_ID, C.RANK, C.BOOK_ID, C.SCORE]]


def similar_for_books(bundle: Bundle, book_ids: Sequence[str], *, k: int) -> pd.DataFrame:
    """``[book_id, rank, similar_book_id, score]``; books unknown to the model get no rows."""
    books = list(dict.fromkeys(b.strip() for b in book_ids if b.strip()))
    frame = bundle.model.similar_books(books, k=k)
    return frame[[C.BOOK_ID, C.RANK, C.SIMILAR_BOOK_ID, C.SCORE]]


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
