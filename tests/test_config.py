"""Settings: defaults, secrets from files with safe permissions, refusal of weak keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from recsys.config import Settings, write_key_file
from recsys.exceptions import ConfigurationError

GOOD_KEY = "k" * 40


def test_database_url_defaults_to_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", _env_file=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/d/recsys.db"


def test_environment_variables_use_the_recsys_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_DATABASE_URL", "postgresql://x@h/db")
    monkeypatch.setenv("RECSYS_MODELS_DIR", "/srv/models")
    settings = Settings(_env_file=None)
    assert settings.resolved_database_url == "postgresql://x@h/db"
    assert settings.models_dir == Path("/srv/models")


def test_missing_key_is_refused_with_instructions(tmp_path: Path) -> None:
    settings = Settings(pseudonym_key_file=tmp_path / "none.key", _env_file=None)
    with pytest.raises(ConfigurationError, match="recsys keygen"):
        settings.pseudonym_key_bytes()


def test_short_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(pseudonym_key="too-short", _env_file=None)
    with pytest.raises(ConfigurationError, match="9 bytes; at least 32"):
        settings.pseudonym_key_bytes()


def test_placeholder_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="placeholder"):
        Settings(pseudonym_key="change-me", _env_file=None).pseudonym_key_bytes()


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_text(GOOD_KEY)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="must be 0600"):
        Settings(pseudonym_key_file=path, _env_file=None).pseudonym_key_bytes()


def test_key_file_with_0600_is_used(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    write_key_file(path, GOOD_KEY.encode())
    assert (
        Settings(pseudonym_key_file=path, _env_file=None).pseudonym_key_bytes() == GOOD_KEY.encode()
    )


def test_write_key_file_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    write_key_file(path, b"first")
    with pytest.raises(FileExistsError):
        write_key_file(path, b"second")
    assert path.read_bytes() == b"first"


def test_pair_support_below_two_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_pair_support must be at least 2"):
        Settings(min_pair_support=1, _env_file=None)


def test_api_keys_parse_scopes(tmp_path: Path) -> None:
    settings = Settings(
        api_keys="abc:reader,def:admin",
        api_keys_file=tmp_path / "absent",
        _env_file=None,
    )
    assert settings.api_key_scopes() == {"abc": {"reader"}, "def": {"admin"}}


def test_api_keys_with_unknown_scope_are_refused(tmp_path: Path) -> None:
    settings = Settings(api_keys="abc:root", api_keys_file=tmp_path / "absent", _env_file=None)
    with pytest.raises(ConfigurationError, match="KEY:reader or KEY:admin"):
        settings.api_key_scopes()


@pytest.mark.parametrize(
    "template",
    [
        "https://opac.example.org/cgi-bin/koha/opac-detail.pl?biblionumber={book_id}",
        "/demo/record/{book_id}",
    ],
)
def test_record_url_template_with_book_id_is_kept(template: str) -> None:
    assert Settings(record_url_template=template, _env_file=None).record_url_template == template


def test_empty_url_templates_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_RECORD_URL_TEMPLATE", "")
    monkeypatch.setenv("RECSYS_COVER_URL_TEMPLATE", "")
    settings = Settings(_env_file=None)
    assert settings.record_url_template is None and settings.cover_url_template is None


@pytest.mark.parametrize(
    "template",
    [
        "https://opac.example.org/record/",  # no {book_id}
        "javascript:alert('{book_id}')",  # not a web address
        "https://opac.example.org/{book_id}?isbn={isbn}",  # an unknown placeholder
        "opac.example.org/{book_id}",  # neither absolute nor a path
    ],
)
def test_bad_url_templates_are_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="RECSYS_COVER_URL_TEMPLATE must be an http"):
        Settings(cover_url_template=template, _env_file=None)
    with pytest.raises(ValidationError, match=re.escape(f"got {template!r}")):
        Settings(record_url_template=template, _env_file=None)
