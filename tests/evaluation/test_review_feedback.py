"""The notebook's feedback review: counts per kind and of exclusions, and the books at least k
readers dismissed, never a reader id."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from recsys.columns import Feedback
from recsys.config import Settings
from recsys.curation.feedback import exclude_book, give_feedback
from recsys.db.tables import catalog
from recsys.evaluation.review_feedback import review_feedback


def test_feedback_is_counted_and_only_books_k_readers_dismissed_are_named(
    engine: Engine, db_settings: Settings
) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(catalog),
            [{"book_id": b, "title": f"Title {b} /", "author": "Ek, Karin"} for b in ("b1", "b2")],
        )
    for reader in ("r1", "r2", "r3"):
        give_feedback(engine, reader_id=reader, book_id="b1", kind=Feedback.NOT_INTERESTED)
    give_feedback(engine, reader_id="r1", book_id="b2", kind=Feedback.NOT_INTERESTED)
    give_feedback(engine, reader_id="r1", book_id="b3", kind=Feedback.LIKED)
    exclude_book(engine, reader_id="r2", book_id="b2")

    review = review_feedback(db_settings.model_copy(update={"min_pair_support": 3}))

    assert review.kinds.to_dict("index") == {
        Feedback.NOT_INTERESTED: {"feedback": 4, "readers": 3},
        Feedback.ALREADY_READ: {"feedback": 0, "readers": 0},
        Feedback.LIKED: {"feedback": 1, "readers": 1},
    }
    assert review.exclusions.to_dict("records") == [{"exclusions": 1, "readers": 1}]
    assert review.dismissed_books.to_dict("records") == [
        {"book_id": "b1", "title": "Title b1", "author": "Ek, Karin", "readers": 3}
    ]
    shown = "".join(frame.to_string() for frame in vars(review).values())
    assert not any(reader in shown for reader in ("r1", "r2", "r3"))
