"""No error path prints a reader id, a pseudonym or SQL parameters: a database that refuses writes
gets one line and a non-zero exit from `recsys forget` and `recsys consent`, and every engine
hides the parameters of its statements."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from pipelines.cli import main
from recsys.config import Settings, get_settings
from recsys.db.tables import consent, loans
from recsys.nightly.runner import describe_error
from recsys.privacy import Pseudonymizer
from recsys.store_key import check_store_key

CARD = "CARD-0042-CANARY"


def _read_only_url(engine: Engine) -> str:
    """The URL of the same database, opened read-only (the file's mode, or the session's)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = url.query.get("options", "")
    read_only = f"{options} -cdefault_transaction_read_only=on".strip()
    return (
        make_url(url)
        .update_query_dict({"options": read_only})
        .render_as_string(hide_password=False)
    )


def test_privacy_commands_on_a_read_only_store_fail_in_one_line_without_ids(
    engine: Engine,
    settings: Settings,
    add_loans,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pseudonymizer = Pseudonymizer(settings.pseudonym_key_bytes())
    pseudonym = pseudonymizer.pseudonymize(CARD)
    add_loans([(pseudonym, "b1", 1)])
    check_store_key(engine, pseudonymizer)
    monkeypatch.setenv("RECSYS_DATABASE_URL", _read_only_url(engine))
    get_settings.cache_clear()

    codes = [
        main(["forget", CARD]),
        main(["consent", CARD, "--no"]),
        main(["consent", CARD, "--yes"]),
    ]

    out = capsys.readouterr()
    assert codes == [1, 1, 1]
    errors = out.err.strip().splitlines()
    assert [line.split(":")[0] for line in errors] == [
        "recsys forget",
        "recsys consent",
        "recsys consent",
    ]
    assert all("the database failed" in line for line in errors)
    shown = out.out + out.err + caplog.text
    assert CARD not in shown and pseudonym not in shown
    assert "parameters" not in shown.lower()


def test_engines_hide_the_parameters_of_failed_statements(engine: Engine) -> None:
    pseudonym = Pseudonymizer(b"k" * 40).pseudonymize(CARD)
    row = {"reader_id": pseudonym, "consented": True, "updated_at": 1}
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(insert(consent), [row])
        connection.execute(insert(consent), [row])
    assert "parameters hidden" in str(raised.value)
    # the driver's own detail may quote the row (PostgreSQL does): reports print neither
    assert pseudonym not in describe_error(raised.value)


def test_an_erasure_that_cannot_lock_the_models_directory_erases_nothing_and_says_so(
    engine: Engine,
    settings: Settings,
    add_loans,
    cli_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    pseudonym = Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize(CARD)
    add_loans([(pseudonym, "b1", 1)])
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(tmp_path / "not-a-folder" / "models"))
    get_settings.cache_clear()

    assert main(["forget", CARD]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing was erased" in err[0]
    assert CARD not in err[0] and pseudonym not in err[0]
    with engine.connect() as connection:
        assert connection.execute(select(loans.c.reader_id)).scalars().all() == [pseudonym]
