"""The Spark engine's training statements keep exactly the rows the pandas loader keeps.

`recsys.db.training_rows` writes the consent rule (minors' mode included), the minors' separation
and the readers' exclusions into SQL; `recsys.consent.load_training_dataset` applies them in
pandas. Over random stores and every setting, both must keep the same loans, views and feedback.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback
from recsys.config import Settings
from recsys.consent import load_training_dataset
from recsys.db.tables import (
    consent,
    loans,
    reader_categories,
    reader_exclusions,
    reader_feedback,
    views,
)
from recsys.db.training_rows import training_statements

T0 = 1_704_067_200
READERS = [f"r{i}" for i in range(6)]
BOOKS = [f"b{i}" for i in range(4)]

loan_rows = st.lists(
    st.tuples(
        st.sampled_from(READERS), st.sampled_from(BOOKS), st.sampled_from(Events.LOAN_EVENTS)
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda row: row[:2],
)
view_rows = st.lists(
    st.tuples(st.sampled_from([*READERS, None]), st.sampled_from(BOOKS)), max_size=10
)
feedback_rows = st.lists(
    st.tuples(st.sampled_from(READERS), st.sampled_from(BOOKS), st.sampled_from(Feedback.ALL)),
    max_size=8,
    unique=True,
)
answers = st.dictionaries(st.sampled_from(READERS), st.booleans())
categories = st.dictionaries(st.sampled_from(READERS), st.sampled_from(["child", "adult"]))
exclusions = st.lists(
    st.tuples(st.sampled_from(READERS), st.sampled_from(BOOKS)), max_size=6, unique=True
)
modes = st.sampled_from(["opt-in", "opt-out"])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    loaned=loan_rows,
    viewed=view_rows,
    told=feedback_rows,
    answered=answers,
    category_of=categories,
    excluded=exclusions,
    mode=modes,
    minors_mode=modes,
    separate=st.booleans(),
)
def test_the_spark_statements_keep_what_the_loader_keeps(
    engine: Engine,
    db_settings: Settings,
    loaned: list[tuple[str, str, str]],
    viewed: list[tuple[str | None, str]],
    told: list[tuple[str, str, str]],
    answered: dict[str, bool],
    category_of: dict[str, str],
    excluded: list[tuple[str, str]],
    mode: str,
    minors_mode: str,
    separate: bool,
) -> None:
    _store(engine, loaned, viewed, told, answered, category_of, excluded)
    chosen = db_settings.model_copy(
        update={
            "consent_mode": mode,
            "consent_mode_minors": minors_mode,
            "separate_minors": separate,
        }
    )
    frame = load_training_dataset(engine, chosen).interactions
    expected = {
        (str(r), str(b), str(e))
        for r, b, e in zip(frame[C.READER_ID], frame[C.BOOK_ID], frame[C.EVENT], strict=True)
    }
    found = set()
    with engine.connect() as connection:
        for statement in training_statements(chosen).values():
            for row in connection.execute(statement).mappings():
                found.add((str(row[C.READER_ID]), str(row[C.BOOK_ID]), str(row[C.EVENT])))
    assert found == expected


def _store(
    engine: Engine,
    loaned: list[tuple[str, str, str]],
    viewed: list[tuple[str | None, str]],
    told: list[tuple[str, str, str]],
    answered: dict[str, bool],
    category_of: dict[str, str],
    excluded: list[tuple[str, str]],
) -> None:
    """Replace the store's readers' rows with these (hypothesis reuses the fixture's store)."""
    with engine.begin() as connection:
        for table in (loans, views, reader_feedback, consent, reader_categories, reader_exclusions):
            connection.execute(delete(table))
        connection.execute(
            insert(loans),
            [_loan(i, reader, book, event) for i, (reader, book, event) in enumerate(loaned)],
        )
        if viewed:
            connection.execute(
                insert(views),
                [
                    {
                        "session_id": f"s{i}",
                        "reader_id": reader,
                        "book_id": book,
                        "viewed_at": T0 + i,
                    }
                    for i, (reader, book) in enumerate(viewed)
                ],
            )
        if told:
            connection.execute(
                insert(reader_feedback),
                [
                    {"reader_id": r, "book_id": b, "kind": kind, "given_at": T0 + i}
                    for i, (r, b, kind) in enumerate(told)
                ],
            )
        if answered:
            connection.execute(
                insert(consent),
                [
                    {"reader_id": r, "consented": yes, "updated_at": T0}
                    for r, yes in answered.items()
                ],
            )
        if category_of:
            connection.execute(
                insert(reader_categories),
                [{"reader_id": r, "category": c, "updated_at": T0} for r, c in category_of.items()],
            )
        if excluded:
            connection.execute(
                insert(reader_exclusions),
                [{"reader_id": r, "book_id": b, "excluded_at": T0} for r, b in excluded],
            )


def _loan(i: int, reader: str, book: str, event: str) -> dict[str, Any]:
    return {
        "reader_id": reader,
        "book_id": book,
        "borrowed_at": T0 + i * 60,
        "event": event,
        "library_id": "L1",
    }
