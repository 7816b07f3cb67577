"""Key rotation by HMAC chaining: new pseudonyms, same readers, consent and erasures preserved."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from recsys.config import Settings, write_key_file
from recsys.consent import load_consent, may_personalize, set_consent
from recsys.db.queries import reader_history
from recsys.db.tables import loans, metadata, views
from recsys.erasure import erasure_count, forget_reader
from recsys.exceptions import ConfigurationError
from recsys.key_rotation import rotate_key, rotate_key_file
from recsys.privacy import Pseudonymizer

NEW_KEY = b"fedcba9876543210" * 4


def _dump(engine: Engine) -> str:
    """Every value of every table, as one string (to search for keys and pseudonyms)."""
    with engine.connect() as connection:
        rows = [connection.execute(select(table)).all() for table in metadata.sorted_tables]
    return "\n".join(repr(row) for table in rows for row in table)


def _seed(engine: Engine, settings: Settings, add_loans, add_views) -> Pseudonymizer:
    old = Pseudonymizer(settings.pseudonym_key_bytes())
    add_loans([(old.pseudonymize("CARD-1"), "b1", 1), (old.pseudonymize("CARD-2"), "b2", 2)])
    add_views([("s1", "b3", 3, old.pseudonymize("CARD-1")), ("s2", "b3", 4, None)])
    set_consent(engine, reader_id=old.pseudonymize("CARD-2"), consented=False, at=5)
    add_loans([(old.pseudonymize("CARD-3"), "b1", 6)])
    forget_reader(engine, pseudonym=old.pseudonymize("CARD-3"), at=7)
    return old


def test_rotation_keeps_every_reader_linked_under_the_new_chain(
    engine: Engine, settings: Settings, add_loans, add_views
) -> None:
    old = _seed(engine, settings, add_loans, add_views)
    result = rotate_key(engine, old_key=settings.pseudonym_key_bytes(), new_key=NEW_KEY)

    chained = Pseudonymizer(settings.pseudonym_key_bytes() + b"\n" + NEW_KEY)
    assert result.readers == 3
    with engine.connect() as connection:
        stored_loans = connection.execute(select(loans.c.reader_id, loans.c.book_id)).all()
        stored_views = connection.execute(select(views.c.session_id, views.c.reader_id)).all()
    assert sorted(stored_loans) == sorted(
        [(chained.pseudonymize("CARD-1"), "b1"), (chained.pseudonymize("CARD-2"), "b2")]
    )
    assert sorted(stored_views, key=str) == sorted(
        [("s1", chained.pseudonymize("CARD-1")), ("s2", None)], key=str
    )
    assert not any(old.pseudonymize(card) in _dump(engine) for card in ("CARD-1", "CARD-2"))


def test_rotation_preserves_consent_and_erasures(
    engine: Engine, settings: Settings, add_loans, add_views
) -> None:
    _seed(engine, settings, add_loans, add_views)
    before = load_consent(engine)
    rotate_key(engine, old_key=settings.pseudonym_key_bytes(), new_key=NEW_KEY)

    chained = Pseudonymizer(settings.pseudonym_key_bytes() + b"\n" + NEW_KEY)
    assert not may_personalize(engine, settings, reader_id=chained.pseudonymize("CARD-2"))
    assert not may_personalize(engine, settings, reader_id=chained.pseudonymize("CARD-3"))
    assert may_personalize(engine, settings, reader_id=chained.pseudonymize("CARD-1"))
    after = load_consent(engine)
    assert sorted(after["consented"]) == sorted(before["consented"])
    assert erasure_count(engine) == 1


def test_reusing_a_key_of_the_chain_is_refused(engine: Engine, settings: Settings) -> None:
    key = settings.pseudonym_key_bytes()
    with pytest.raises(ConfigurationError, match="already in the key chain"):
        rotate_key(engine, old_key=key, new_key=key)


def test_rotate_key_file_writes_the_chain_and_no_key_to_the_store(
    engine: Engine, settings: Settings, add_loans, add_views, tmp_path: Path
) -> None:
    _seed(engine, settings, add_loans, add_views)
    old_key = settings.pseudonym_key_bytes()
    new_key_file = tmp_path / "new.key"
    write_key_file(new_key_file, NEW_KEY)

    rotate_key_file(engine, settings, new_key_file=new_key_file)

    key_file = settings.pseudonym_key_file
    assert key_file.read_bytes() == old_key + b"\n" + NEW_KEY + b"\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not key_file.with_name(key_file.name + ".next").exists()
    chained = Pseudonymizer(settings.pseudonym_key_bytes())
    with engine.connect() as connection:
        assert (
            chained.pseudonymize("CARD-1")
            in connection.execute(select(loans.c.reader_id)).scalars().all()
        )
    dump = _dump(engine)
    assert old_key.decode() not in dump and NEW_KEY.decode() not in dump


def test_a_key_from_the_environment_cannot_be_rotated(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    key = settings.pseudonym_key_bytes().decode()
    from_env = settings.model_copy(update={"pseudonym_key": key})
    write_key_file(tmp_path / "new.key", NEW_KEY)
    with pytest.raises(ConfigurationError, match="unset RECSYS_PSEUDONYM_KEY"):
        rotate_key_file(engine, from_env, new_key_file=tmp_path / "new.key")


def test_an_interrupted_rotation_blocks_the_next_one(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    key_file = settings.pseudonym_key_file
    write_key_file(key_file.with_name(key_file.name + ".next"), b"left over")
    write_key_file(tmp_path / "new.key", NEW_KEY)
    with pytest.raises(ConfigurationError, match="earlier key rotation was interrupted"):
        rotate_key_file(engine, settings, new_key_file=tmp_path / "new.key")


def test_a_weak_new_key_is_refused_and_nothing_changes(
    engine: Engine, settings: Settings, add_loans, add_views, tmp_path: Path
) -> None:
    _seed(engine, settings, add_loans, add_views)
    before = _dump(engine)
    write_key_file(tmp_path / "new.key", b"short")
    with pytest.raises(ConfigurationError, match="5 bytes; at least 32"):
        rotate_key_file(engine, settings, new_key_file=tmp_path / "new.key")
    assert _dump(engine) == before
    assert len(settings.pseudonym_key_bytes().splitlines()) == 1


def test_the_same_card_finds_the_same_history_after_rotation(
    engine: Engine, settings: Settings, add_loans, add_views
) -> None:
    old = _seed(engine, settings, add_loans, add_views)
    before = reader_history(engine, reader_id=old.pseudonymize("CARD-1"))
    new_key_file = settings.pseudonym_key_file.parent / "new.key"
    write_key_file(new_key_file, NEW_KEY)

    rotate_key_file(engine, settings, new_key_file=new_key_file)

    chained = Pseudonymizer(settings.pseudonym_key_bytes())
    after = reader_history(engine, reader_id=chained.pseudonymize("CARD-1"))
    assert len(before) == 2
    pd.testing.assert_frame_equal(after, before)
    assert reader_history(engine, reader_id=old.pseudonymize("CARD-1")).empty


def test_every_key_of_a_chain_must_be_strong(settings: Settings, tmp_path: Path) -> None:
    chain = tmp_path / "chain.key"
    write_key_file(chain, settings.pseudonym_key_bytes() + b"\nshort\n")
    weak = settings.model_copy(update={"pseudonym_key_file": chain})
    with pytest.raises(ConfigurationError, match=r"\(key 2 of the chain\) is 5 bytes"):
        weak.pseudonym_key_bytes()
