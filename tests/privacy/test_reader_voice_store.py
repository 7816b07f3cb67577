"""Feedback, exclusions and reader categories follow the loans' rules in the store: erasure
deletes them, key rotation carries them to the new pseudonyms, retention deletes old ones, and
the reader state the lists are made from honours them and the minors' consent mode."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, insert, select

from recsys.columns import Feedback
from recsys.config import Settings
from recsys.consent import (
    detach_unconsented_sessions,
    load_training_dataset,
    may_personalize,
    set_consent,
)
from recsys.curation.feedback import exclude_book, give_feedback
from recsys.db import reader_state
from recsys.db.categories import record_categories
from recsys.db.reader_state import SqliteHistory, consent_and_loans, reader_rows, readers_rows
from recsys.db.tables import (
    loans,
    reader_categories,
    reader_exclusions,
    reader_feedback,
    views,
)
from recsys.erasure import forget_reader
from recsys.key_rotation import rotate_key
from recsys.lists.history import LoanHistory
from recsys.lists.rendered import state_fingerprint
from recsys.nightly.validate import validate_store
from recsys.privacy import Pseudonymizer

DAY = 86_400
NOW = 1_790_000_000
NEW_KEY = b"fedcba9876543210" * 4


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _state(history: LoanHistory | None) -> tuple[object, ...] | None:
    """A history as plain values (its times are a numpy array)."""
    if history is None:
        return None
    return (
        history.book_ids,
        history.events,
        history.seconds.tolist(),
        history.withheld,
        history.withheld_at,
    )


def _categorize(engine: Engine, rows: list[tuple[str, str, int]]) -> None:
    with engine.begin() as connection:
        record_categories(connection, rows)


def test_what_feeds_a_list_is_loans_read_and_liked_books_minus_withheld_ones(
    engine: Engine, settings: Settings, add_loans
) -> None:
    add_loans([("r", "b1", 10), ("r", "b2", 20), ("r", "b3", 30), ("other", "b9", 5)])
    give_feedback(engine, reader_id="r", book_id="b4", kind=Feedback.ALREADY_READ, at=40)
    give_feedback(engine, reader_id="r", book_id="b5", kind=Feedback.LIKED, at=50)
    give_feedback(engine, reader_id="r", book_id="b2", kind=Feedback.NOT_INTERESTED, at=60)
    exclude_book(engine, reader_id="r", book_id="b3", at=70)

    history = consent_and_loans(engine, settings, reader_id="r")

    assert history is not None
    assert list(history.book_ids) == ["b1", "b4", "b5"]
    assert list(history.events) == ["loan", Feedback.ALREADY_READ, Feedback.LIKED]
    assert history.seconds.tolist() == [10, 40, 50]
    assert dict(zip(history.withheld, history.withheld_at, strict=True)) == {"b2": 60, "b3": 70}
    assert set(history.never_shown()) == {"b1", "b2", "b3", "b4", "b5"}
    assert history.withheld_since(65) and not history.withheld_since(70)
    with engine.connect() as connection:  # the loan record stays for circulation
        assert connection.execute(select(func.count()).select_from(loans)).scalar_one() == 4


def test_the_front_doors_raw_connection_reads_the_same_rows(
    engine: Engine, settings: Settings, add_loans
) -> None:
    if not SqliteHistory.supports(engine):
        pytest.skip("the raw connection is SQLite's")
    add_loans([("r", "b1", 10)])
    give_feedback(engine, reader_id="r", book_id="b2", kind=Feedback.LIKED, at=20)
    exclude_book(engine, reader_id="r", book_id="b1", at=30)
    _categorize(engine, [("r", "adult", 5)])
    raw = SqliteHistory(engine, settings)
    try:
        assert sorted(raw.rows("r"), key=repr) == sorted(
            (tuple(row) for row in reader_rows(engine, reader_id="r")), key=repr
        )
        assert _state(raw("r")) == _state(consent_and_loans(engine, settings, reader_id="r"))
    finally:
        raw.close()


def test_many_readers_rows_read_at_once_are_each_readers_own(
    engine: Engine, add_loans, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_loans([("r", "b1", 10), ("r", "b2", 15), ("s", "b1", 11), ("t", "b3", 12)])
    give_feedback(engine, reader_id="r", book_id="b4", kind=Feedback.LIKED, at=20)
    give_feedback(engine, reader_id="t", book_id="b1", kind=Feedback.NOT_INTERESTED, at=21)
    exclude_book(engine, reader_id="s", book_id="b2", at=30)
    set_consent(engine, reader_id="s", consented=False, at=40)
    set_consent(engine, reader_id="t", consented=True, at=41)
    _categorize(engine, [("r", "adult", 5), ("t", "child", 6)])
    monkeypatch.setattr(reader_state, "READERS_PER_STATEMENT", 2)  # readers over 3 statements
    readers = ["r", "s", "t", "never-borrowed", "s"]

    found = readers_rows(engine, readers)

    assert sorted(found) == ["never-borrowed", "r", "s", "t"]
    for reader in found:
        one = [tuple(row) for row in reader_rows(engine, reader_id=reader)]
        assert sorted(found[reader], key=repr) == sorted(one, key=repr)
        assert state_fingerprint(found[reader]) == state_fingerprint(one)
    assert len(found["r"]) == 4 and len(found["never-borrowed"]) == 1


def test_minors_are_under_their_own_consent_mode_whatever_the_general_one(
    engine: Engine, settings: Settings, add_loans
) -> None:
    opt_out = settings.model_copy(update={"consent_mode": "opt-out"})
    add_loans([("child", "b1", 10), ("teen", "b1", 11), ("adult", "b1", 12), ("unknown", "b1", 13)])
    _categorize(engine, [("child", "child", 1), ("teen", "young_adult", 1), ("adult", "adult", 1)])

    for reader, personalized in (("child", False), ("teen", False), ("adult", True)):
        assert may_personalize(engine, opt_out, reader_id=reader) is personalized, reader
        assert (consent_and_loans(engine, opt_out, reader_id=reader) is not None) is personalized
    assert may_personalize(engine, opt_out, reader_id="unknown")  # the general mode
    set_consent(engine, reader_id="child", consented=True, at=20)
    assert consent_and_loans(engine, opt_out, reader_id="child") is not None
    lenient = opt_out.model_copy(update={"consent_mode_minors": "opt-out"})
    assert may_personalize(engine, lenient, reader_id="teen")
    narrow = opt_out.model_copy(update={"minor_categories": "child"})
    assert may_personalize(engine, narrow, reader_id="teen")


def test_minors_never_train_by_default_and_only_with_consent_when_allowed(
    engine: Engine, settings: Settings, add_loans
) -> None:
    opt_out = settings.model_copy(update={"consent_mode": "opt-out"})
    add_loans([("child", "b1", 10), ("child2", "b2", 10), ("adult", "b1", 12)])
    _categorize(engine, [("child", "child", 1), ("child2", "child", 1), ("adult", "adult", 1)])
    set_consent(engine, reader_id="child", consented=True, at=20)

    def trained(settings: Settings) -> set[str]:
        return set(load_training_dataset(engine, settings).interactions["reader_id"])

    assert trained(opt_out) == {"adult"}
    assert trained(opt_out.model_copy(update={"separate_minors": False})) == {"adult", "child"}


def test_exclusions_and_dismissals_shape_the_training_data(
    engine: Engine, settings: Settings, add_loans
) -> None:
    add_loans([("r", "b1", 10), ("r", "b2", 20), ("r", "b3", 30)])
    give_feedback(engine, reader_id="r", book_id="b4", kind=Feedback.LIKED, at=40)
    give_feedback(engine, reader_id="r", book_id="b2", kind=Feedback.NOT_INTERESTED, at=50)
    exclude_book(engine, reader_id="r", book_id="b3", at=60)

    rows = load_training_dataset(engine, settings).interactions
    pairs = set(zip(rows["book_id"], rows["event"], strict=True))
    assert pairs == {
        ("b1", "loan"),
        ("b2", "loan"),
        ("b2", Feedback.NOT_INTERESTED),
        ("b4", "liked"),
    }


def test_erasure_deletes_feedback_exclusions_and_the_category(
    engine: Engine, settings: Settings, add_loans
) -> None:
    for reader in ("gone", "kept"):
        add_loans([(reader, "b1", 10)])
        give_feedback(engine, reader_id=reader, book_id="b2", kind=Feedback.LIKED, at=20)
        exclude_book(engine, reader_id=reader, book_id="b1", at=30)
        _categorize(engine, [(reader, "adult", 5)])

    result = forget_reader(engine, pseudonym="gone", at=100)

    assert result.feedback_deleted == 2  # one feedback, one exclusion
    for table in (reader_feedback, reader_exclusions, reader_categories):
        with engine.connect() as connection:
            assert connection.execute(select(table.c.reader_id)).scalars().all() == ["kept"]


def test_key_rotation_carries_feedback_exclusions_and_categories_to_the_new_pseudonyms(
    engine: Engine, settings: Settings, add_loans
) -> None:
    old = Pseudonymizer(settings.pseudonym_key_bytes())
    reader = old.pseudonymize("CARD-1")
    add_loans([(reader, "b1", 10)])
    give_feedback(engine, reader_id=reader, book_id="b2", kind=Feedback.NOT_INTERESTED, at=20)
    exclude_book(engine, reader_id=reader, book_id="b1", at=30)
    _categorize(engine, [(reader, "child", 5)])
    before = consent_and_loans(
        engine, settings.model_copy(update={"consent_mode_minors": "opt-out"}), reader_id=reader
    )

    rotate_key(engine, old_key=settings.pseudonym_key_bytes(), new_key=NEW_KEY)

    chained = Pseudonymizer(settings.pseudonym_key_bytes() + b"\n" + NEW_KEY)
    lenient = settings.model_copy(update={"consent_mode_minors": "opt-out"})
    after = consent_and_loans(engine, lenient, reader_id=chained.pseudonymize("CARD-1"))
    assert _state(after) == _state(before) and after is not None
    assert after.withheld == ("b2", "b1")
    assert not may_personalize(engine, settings, reader_id=chained.pseudonymize("CARD-1"))
    for table in (reader_feedback, reader_exclusions, reader_categories):
        with engine.connect() as connection:
            assert connection.execute(select(table.c.reader_id)).scalars().all() == [
                chained.pseudonymize("CARD-1")
            ]


def test_retention_deletes_old_feedback_and_exclusions_of_books_no_longer_on_loan(
    engine: Engine, settings: Settings, add_loans
) -> None:
    window = settings.model_copy(update={"retention_days": 30})
    old, recent = NOW - 31 * DAY, NOW - 29 * DAY
    add_loans([("r", "still-lent", recent), ("r", "gone-loan", old)])
    give_feedback(engine, reader_id="r", book_id="x", kind=Feedback.LIKED, at=old)
    give_feedback(engine, reader_id="r", book_id="y", kind=Feedback.LIKED, at=recent)
    for book in ("still-lent", "gone-loan"):
        exclude_book(engine, reader_id="r", book_id=book, at=old)
    exclude_book(engine, reader_id="r", book_id="z", at=recent)

    report = validate_store(engine, window, now=NOW)

    assert report.deleted == {"loans": 1, "views": 0, "feedback": 1, "exclusions": 1}
    with engine.connect() as connection:
        assert connection.execute(select(reader_feedback.c.book_id)).scalars().all() == ["y"]
        assert sorted(connection.execute(select(reader_exclusions.c.book_id)).scalars()) == [
            "still-lent",
            "z",
        ]


def test_a_later_category_replaces_an_earlier_one_and_an_older_one_does_not(
    engine: Engine,
) -> None:
    _categorize(engine, [("r", "child", 10), ("r", "young_adult", 20)])
    _categorize(engine, [("r", "child", 15)])
    with engine.connect() as connection:
        assert connection.execute(select(reader_categories.c.category)).scalars().all() == [
            "young_adult"
        ]
    with engine.begin() as connection:
        connection.execute(
            insert(reader_feedback).values(reader_id="r", book_id="b", kind="liked", given_at=1)
        )
    assert _count(engine, reader_feedback) == 1


def test_a_minors_views_are_detached_without_their_consent_whatever_the_general_mode(
    engine: Engine, settings: Settings, add_views
) -> None:
    opt_out = settings.model_copy(update={"consent_mode": "opt-out"})
    add_views([("s1", "b1", 10, "child"), ("s2", "b1", 11, "adult"), ("s3", "b1", 12, "asked")])
    _categorize(engine, [("child", "child", 1), ("adult", "adult", 1), ("asked", "child", 1)])
    set_consent(engine, reader_id="asked", consented=True, at=5)

    assert detach_unconsented_sessions(engine, opt_out) == 1

    with engine.connect() as connection:
        linked = connection.execute(select(views.c.session_id, views.c.reader_id)).all()
    assert sorted(linked, key=str) == [("s1", None), ("s2", "adult"), ("s3", "asked")]
