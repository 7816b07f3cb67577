"""`recsys keygen` creates 0600 secrets once and never overwrites them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipelines.cli import main
from recsys.config import Settings, get_settings


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RECSYS_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("RECSYS_PSEUDONYM_KEY_FILE", str(tmp_path / "s" / "pseudonym.key"))
    monkeypatch.setenv("RECSYS_API_KEYS_FILE", str(tmp_path / "s" / "api_keys"))
    get_settings.cache_clear()
    yield tmp_path / "s"
    get_settings.cache_clear()


def test_keygen_creates_private_key_and_api_keys(secrets_dir: Path) -> None:
    assert main(["keygen", "--api-keys"]) == 0
    for name in ("pseudonym.key", "api_keys"):
        assert stat.S_IMODE((secrets_dir / name).stat().st_mode) == 0o600
    settings = Settings(_env_file=None)
    assert len(settings.pseudonym_key_bytes()) == 64
    assert sorted(scope for scopes in settings.api_key_scopes().values() for scope in scopes) == [
        "admin",
        "reader",
    ]


def test_keygen_keeps_an_existing_key(secrets_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["keygen"]) == 0
    first = (secrets_dir / "pseudonym.key").read_bytes()
    assert main(["keygen"]) == 0
    assert (secrets_dir / "pseudonym.key").read_bytes() == first
    assert "left unchanged" in capsys.readouterr().out
