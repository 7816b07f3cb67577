"""Erasure: the reader's rows go at once, personalization is denied at once, only a count stays."""

from __future__ import annotations

from sqlalchemy import Engine, select

from recsys.config import Settings
from recsys.consent import may_personalize, set_consent
from recsys.db.tables import loans, privacy_events, views
from recsys.erasure import erasure_count, forget_reader


def test_forget_deletes_only_that_readers_loans_and_views(
    engine: Engine, settings: Settings, add_loans, add_views
) -> None:
    add_loans([("gone", "b1", 1), ("gone", "b2", 2), ("kept", "b1", 3)])
    add_views([("s1", "b1", 1, "gone"), ("s2", "b1", 2, "kept"), ("s3", "b3", 3, None)])

    result = forget_reader(engine, pseudonym="gone", at=100)

    assert (result.loans_deleted, result.views_deleted) == (2, 1)
    with engine.connect() as connection:
        assert connection.execute(select(loans.c.reader_id)).scalars().all() == ["kept"]
        assert sorted(connection.execute(select(views.c.session_id)).scalars()) == ["s2", "s3"]


def test_forget_denies_personalization_at_once_even_after_a_newer_yes(
    engine: Engine, settings: Settings
) -> None:
    set_consent(engine, reader_id="gone", consented=True, at=10_000)
    assert may_personalize(engine, settings, reader_id="gone")
    forget_reader(engine, pseudonym="gone", at=100)
    assert not may_personalize(engine, settings, reader_id="gone")
    assert not may_personalize(
        engine, settings.model_copy(update={"consent_mode": "opt-in"}), reader_id="gone"
    )


def test_erasures_are_counted_never_listed(engine: Engine, settings: Settings, add_loans) -> None:
    add_loans([("first", "b1", 1)])
    forget_reader(engine, pseudonym="first", at=100)
    forget_reader(engine, pseudonym="unknown-reader", at=200)
    assert erasure_count(engine) == 2
    with engine.connect() as connection:
        events = connection.execute(select(privacy_events)).all()
    assert [(e.kind, e.count, e.at) for e in events] == [("erasure", 1, 100), ("erasure", 1, 200)]
    assert not any("first" in str(value) or "unknown" in str(value) for e in events for value in e)
