"""The store knows its key by a fingerprint: a process with another key is refused before it writes,
and a running service follows a rotation (or refuses reader routes) instead of answering that it
erased someone it could not find."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from pipelines.cli import main
from recsys.config import Settings, write_key_file
from recsys.consent import load_consent
from recsys.db.tables import loans
from recsys.ingest import ingest_file
from recsys.key_rotation import rotate_key, rotate_key_file
from recsys.privacy import Pseudonymizer
from recsys.store_key import KeyMismatchError, check_store_key, matches_store
from tests.privacy.conftest import KEY

NEW_KEY = b"fedcba9876543210" * 4
keys = st.binary(min_size=32, max_size=48).filter(lambda k: b"\n" not in k and k.strip() == k)


def _loans_of(engine: Engine, pseudonym: str) -> int:
    query = select(func.count()).select_from(loans).where(loans.c.reader_id == pseudonym)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_a_running_service_follows_a_key_rotation(site, tmp_path: Path) -> None:
    raw = site.busiest_readers(1)[0]
    client = site.client()
    write_key_file(tmp_path / "new.key", NEW_KEY)
    rotate_key_file(site.engine, site.settings, new_key_file=tmp_path / "new.key")
    rotated = site.pseudonym(raw)  # the key file now holds the chain
    assert _loans_of(site.engine, rotated) > 0

    response = client.delete(f"/admin/readers/{raw}", headers=site.admin_headers)

    assert response.status_code == 200, response.text
    assert response.json()["loans_deleted"] > 0
    assert _loans_of(site.engine, rotated) == 0
    assert client.app.state.key_watch.stale is False


def test_a_service_that_cannot_read_the_new_key_refuses_reader_routes(site) -> None:
    raw = site.busiest_readers(1)[0]
    client = site.client(pseudonym_key=SecretStr(KEY.decode()))  # cannot change while running
    rotate_key(site.engine, old_key=KEY, new_key=NEW_KEY)
    rotated = Pseudonymizer(KEY + b"\n" + NEW_KEY).pseudonymize(raw)
    stored = _loans_of(site.engine, rotated)

    erased = client.delete(f"/admin/readers/{raw}", headers=site.admin_headers)
    consent = client.put(
        f"/admin/readers/{raw}/consent", json={"consented": False}, headers=site.admin_headers
    )
    listed = client.get(f"/readers/{raw}/recommendations", headers=site.reader_headers)

    assert [erased.status_code, consent.status_code, listed.status_code] == [503, 503, 503]
    assert "rotated" in erased.json()["detail"] and "rotated" in listed.json()["detail"]
    assert _loans_of(site.engine, rotated) == stored > 0
    assert rotated not in set(load_consent(site.engine)["reader_id"])
    assert client.get("/popular").status_code == 200  # routes without a reader id still answer


def test_ingest_with_another_key_is_refused_and_stores_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    export = tmp_path / "loans.csv"
    export.write_text("reader_id,book_id,borrowed_at\nCARD-1,b1,2024-03-01\n")
    settings = settings.model_copy(update={"retention_days": 36_500})  # loans dated 2024
    ingest_file(engine, settings, kind="loans", path=export)
    other = settings.model_copy(update={"pseudonym_key": SecretStr("x" * 40)})
    second = tmp_path / "more.csv"
    second.write_text("reader_id,book_id,borrowed_at\nCARD-1,b2,2024-03-02\n")

    with pytest.raises(KeyMismatchError, match="not the one the store is keyed with"):
        ingest_file(engine, other, kind="loans", path=second)

    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(loans)).scalar_one() == 1


def test_cli_with_another_key_refuses_in_one_line_and_records_nothing(
    engine: Engine, settings: Settings, cli_env: None, capsys: pytest.CaptureFixture
) -> None:
    check_store_key(engine, Pseudonymizer(NEW_KEY))  # the store is keyed with another key

    assert main(["consent", "CARD-1", "--no"]) == 1
    assert main(["forget", "CARD-1"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("not the one the store is keyed with" in line for line in err)
    assert load_consent(engine).empty


def test_rotation_records_the_new_chain_and_refuses_the_old_one(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    old = Pseudonymizer(settings.pseudonym_key_bytes())
    check_store_key(engine, old)
    write_key_file(tmp_path / "new.key", NEW_KEY)
    rotate_key_file(engine, settings, new_key_file=tmp_path / "new.key")
    assert matches_store(engine, Pseudonymizer(settings.pseudonym_key_bytes()))
    assert not matches_store(engine, old)
    with pytest.raises(KeyMismatchError):
        rotate_key(engine, old_key=KEY, new_key=b"a" * 40)


@hypothesis_settings(max_examples=50, deadline=None)
@given(first=st.lists(keys, min_size=1, max_size=3), second=st.lists(keys, min_size=1, max_size=3))
def test_fingerprints_tell_key_chains_apart_and_reveal_no_key_or_pseudonym(
    first: list[bytes], second: list[bytes]
) -> None:
    chain = Pseudonymizer(b"\n".join(first))
    other = Pseudonymizer(b"\n".join(second))
    fingerprint = chain.fingerprint()
    assert fingerprint == Pseudonymizer(b"\n".join(first)).fingerprint()
    assert (fingerprint == other.fingerprint()) == (first == second)
    assert not any(key.hex() in fingerprint or key in fingerprint.encode() for key in first)
    for raw in ("", "CARD-1", fingerprint):
        assert fingerprint not in chain.pseudonyms(raw)
