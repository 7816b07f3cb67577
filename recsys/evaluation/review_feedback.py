"""What readers said and chose, for the curation notebook: feedback by kind, exclusions, and the
books many readers are not interested in. Counts only: no reader id, raw or pseudonymous, and a
book is named only when at least k readers (`RECSYS_MIN_PAIR_SUPPORT`) said the same of it, so a
table never points at one reader."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.config import Settings
from recsys.db import feedback as store
from recsys.db.engine import make_engine
from recsys.db.reader_data import catalog_texts

FEEDBACK, READERS = "feedback", "readers"


@dataclass(frozen=True)
class FeedbackReview:
    """Feedback per kind (how many, from how many readers), exclusions (the same), and the
    books at least k readers are not interested in, with how many."""

    kinds: pd.DataFrame
    exclusions: pd.DataFrame
    dismissed_books: pd.DataFrame


def review_feedback(settings: Settings, *, top: int = 20) -> FeedbackReview:
    """The review of the store `settings` name; the `top` most dismissed books."""
    engine = make_engine(settings)
    try:
        counts = store.feedback_counts(engine).set_index(C.FEEDBACK_KIND)
        kinds = counts.reindex(list(Feedback.ALL), fill_value=0).astype("int64")
        total, readers = store.exclusion_counts(engine)
        dismissed = store.books_by_feedback(
            engine, kind=Feedback.NOT_INTERESTED, min_readers=settings.min_pair_support
        ).head(top)
        texts = catalog_texts(engine, dismissed[C.BOOK_ID].astype(str))
    finally:
        engine.dispose()
    books = [texts.get(str(book), (None, None)) for book in dismissed[C.BOOK_ID]]
    return FeedbackReview(
        kinds=kinds.rename_axis(None),
        exclusions=pd.DataFrame({"exclusions": [total], READERS: [readers]}),
        dismissed_books=pd.DataFrame(
            {
                C.BOOK_ID: dismissed[C.BOOK_ID].astype(str).tolist(),
                C.TITLE: [title for title, _ in books],
                C.AUTHOR: [author for _, author in books],
                READERS: dismissed[READERS].astype("int64").tolist(),
            }
        ),
    )
