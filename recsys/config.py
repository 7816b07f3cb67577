"""Settings from `RECSYS_*` environment variables and `.env` (pydantic-settings).

Nothing is built at import: call `get_settings()` (cached) or construct `Settings(...)` in tests.
Secrets (the pseudonym key, API keys) come from the environment or 0600 files, never from the repo,
the database or the models directory.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.exceptions import ConfigurationError
from recsys.privacy import split_key_chain

MIN_KEY_BYTES = 32
PLACEHOLDER_KEYS = frozenset({"change-me", "changeme", "secret", "placeholder", "xxx"})


class Settings(BaseSettings):
    """All configuration of recsys; every field is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file <data_dir>/recsys.db"
    )
    data_dir: Path = Field(default=Path("data"), description="inbox/, quarantine/, SQLite file")
    models_dir: Path = Field(
        default=Path("models"), description="runs/<run_id>/, CURRENT, PREVIOUS"
    )
    pseudonym_key: SecretStr | None = Field(default=None, description="HMAC key, >= 32 bytes")
    pseudonym_key_file: Path = Field(
        default=Path("secrets/pseudonym.key"), description="used when RECSYS_PSEUDONYM_KEY is unset"
    )

    max_bad_row_share: float = Field(default=0.05, ge=0.0, le=1.0)
    ingest_chunk_rows: int = Field(default=200_000, ge=1_000)
    loan_preset: str | None = Field(
        default=None, description="ILS export preset of the inbox (koha-issues, folio-loans, ...)"
    )
    anonymous_reader_ids: str = Field(
        default="", description="comma-separated ids the ILS files anonymized loans under"
    )
    max_reader_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="a loans file where one reader holds more is refused",
    )
    marc_id_field: str | None = Field(
        default=None,
        description="where MARC records keep their id (001, 999c); default the preset's",
    )

    api_keys: SecretStr | None = Field(
        default=None, description="comma-separated KEY:SCOPE pairs, scopes reader|admin"
    )
    api_keys_file: Path = Field(
        default=Path("secrets/api_keys"),
        description="same format, one pair a line; read if present",
    )
    public_book_routes: bool = Field(
        default=True, description="per-book/popular/session routes open"
    )
    cors_origins: list[str] = Field(default_factory=list)
    model_poll_seconds: float = Field(default=5.0, gt=0)

    min_pair_support: int = Field(default=3, description="distinct readers linking two books")
    consent_mode: Literal["opt-in", "opt-out"] = "opt-out"
    retention_days: int = Field(default=730, ge=1)
    raw_export_days: int = Field(
        default=7, ge=0, description="days processed/rejected exports (raw card numbers) are kept"
    )
    keep_runs: int = Field(default=10, ge=2)

    half_life_days: float = Field(
        default=180.0, gt=0, description="days until a loan counts half (about a semester)"
    )
    gate_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    gate_metric: str = "ndcg@10"
    min_loans: int = Field(default=100, ge=1)
    max_volume_drop: float = Field(default=0.5, ge=0.0, le=1.0)
    search_enabled: bool = False
    search_budget_seconds: float = Field(default=300.0, gt=0)
    seed: int = 42
    db_wait_seconds: float = Field(
        default=120.0, ge=0, description="how long a nightly waits for a locked/unreachable DB"
    )

    @field_validator("min_pair_support")
    @classmethod
    def _pair_support_at_least_two(cls, value: int) -> int:
        if value < 2:
            raise ValueError(
                "min_pair_support must be at least 2 so that no list reveals one reader; "
                f"got {value}"
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'recsys.db').as_posix()}"

    @property
    def anonymous_ids(self) -> frozenset[str]:
        """The reader ids of `anonymous_reader_ids`, whose loans are set aside at ingest."""
        return frozenset(
            part.strip() for part in self.anonymous_reader_ids.split(",") if part.strip()
        )

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def pseudonym_key_bytes(self) -> bytes:
        """The pseudonym key or key chain (one key a line); refuses missing, placeholder, short."""
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.get_secret_value().encode("utf-8")
            source = "RECSYS_PSEUDONYM_KEY"
        else:
            key = _read_secret_file(self.pseudonym_key_file, "RECSYS_PSEUDONYM_KEY_FILE")
            source = f"key file {self.pseudonym_key_file}"
        key = key.strip()
        chain = split_key_chain(key)
        for number, link in enumerate(chain, start=1):
            where = source if len(chain) == 1 else f"{source} (key {number} of the chain)"
            if link.decode("utf-8", "replace").lower() in PLACEHOLDER_KEYS:
                raise ConfigurationError(
                    f"the pseudonym key from {where} is a placeholder; set a real one"
                )
            if len(link) < MIN_KEY_BYTES:
                raise ConfigurationError(
                    f"the pseudonym key from {where} is {len(link)} bytes; at least "
                    f"{MIN_KEY_BYTES} are required (generate one with `recsys keygen`)"
                )
        return key

    def api_key_scopes(self) -> dict[str, set[str]]:
        """Map each configured API key to its scopes (`reader`, `admin`)."""
        text = self.api_keys.get_secret_value() if self.api_keys else ""
        if self.api_keys_file.exists():
            text += "\n" + _read_secret_file(self.api_keys_file, "RECSYS_API_KEYS_FILE").decode()
        scopes: dict[str, set[str]] = {}
        for pair in text.replace("\n", ",").split(","):
            pair = pair.strip()
            if not pair:
                continue
            key, _, scope = pair.rpartition(":")
            if not key or scope not in ("reader", "admin"):
                raise ConfigurationError(
                    "RECSYS_API_KEYS entries must look like KEY:reader or KEY:admin"
                )
            scopes.setdefault(key, set()).add(scope)
        return scopes


def _read_secret_file(path: Path, variable: str) -> bytes:
    """Read a secret file, refusing one that other users can read."""
    if not path.exists():
        raise ConfigurationError(
            f"no secret at {path}: create it with `recsys keygen`, or set {variable} to another "
            "file (the pseudonym key may also come from RECSYS_PSEUDONYM_KEY)"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"secret file {path} has permissions {oct(mode)}; it must be 0600 (chmod 600 {path})"
        )
    return path.read_bytes()


def write_key_file(path: Path, key: bytes) -> None:
    """Create a new 0600 key file; never overwrite an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
