"""`recsys forget`, `recsys consent`, `recsys rotate-key`: raw id in, counts out, never the id."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from pipelines.cli import main
from recsys.config import Settings, write_key_file
from recsys.consent import may_personalize
from recsys.db.tables import loans
from recsys.privacy import Pseudonymizer


def _pseudonym(settings: Settings, raw: str) -> str:
    return Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize(raw)


def test_forget_erases_the_reader_and_prints_counts_only(
    engine: Engine, settings: Settings, add_loans, cli_env: None, capsys: pytest.CaptureFixture
) -> None:
    gone, kept = _pseudonym(settings, "CARD-0001"), _pseudonym(settings, "CARD-0002")
    add_loans([(gone, "b1", 1), (gone, "b2", 2), (kept, "b1", 3)])

    assert main(["forget", "CARD-0001"]) == 0

    out = capsys.readouterr()
    assert "2 loan events and 0 views deleted" in out.out
    assert not any(secret in out.out + out.err for secret in ("CARD-0001", gone))
    with engine.connect() as connection:
        assert connection.execute(select(loans.c.reader_id)).scalars().all() == [kept]
    assert not may_personalize(engine, settings, reader_id=gone)


def test_forget_reads_the_id_from_stdin(
    engine: Engine,
    settings: Settings,
    add_loans,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    add_loans([(_pseudonym(settings, "CARD-0001"), "b1", 1)])
    monkeypatch.setattr("sys.stdin", io.StringIO("CARD-0001\n"))
    assert main(["forget", "-"]) == 0
    assert "1 loan events" in capsys.readouterr().out


def test_consent_no_then_yes(
    engine: Engine, settings: Settings, cli_env: None, capsys: pytest.CaptureFixture
) -> None:
    reader = _pseudonym(settings, "CARD-0003")
    assert main(["consent", "CARD-0003", "--no"]) == 0
    assert not may_personalize(engine, settings, reader_id=reader)
    assert main(["consent", "CARD-0003", "--yes"]) == 0
    assert may_personalize(engine, settings, reader_id=reader)
    out = capsys.readouterr()
    assert "CARD-0003" not in out.out + out.err and reader not in out.out + out.err


def test_rotate_key_keeps_the_reader_linked(
    engine: Engine,
    settings: Settings,
    add_loans,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    add_loans([(_pseudonym(settings, "CARD-0004"), "b1", 1)])
    new_key = b"n" * 20 + b"0123456789abcdef" * 2
    write_key_file(tmp_path / "new.key", new_key)

    assert main(["rotate-key", "--new-key-file", str(tmp_path / "new.key")]) == 0

    out = capsys.readouterr()
    assert "1 readers (1 rows) re-pseudonymized" in out.out
    assert new_key.decode() not in out.out + out.err
    with engine.connect() as connection:
        stored = connection.execute(select(loans.c.reader_id)).scalars().all()
    assert stored == [_pseudonym(settings, "CARD-0004")]
    assert len(settings.pseudonym_key_bytes().splitlines()) == 2
