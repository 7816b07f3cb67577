"""Settings from `RECSYS_*` environment variables and `.env` (pydantic-settings).

Nothing is built at import: call `get_settings()` (cached) or construct `Settings(...)` in tests.
Secrets (the pseudonym key, API keys) come from the environment or 0600 files, never from the repo,
the database or the models directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.columns import ReaderCategories
from recsys.exceptions import ConfigurationError
from recsys.privacy import split_key_chain

MIN_KEY_BYTES = 32
API_KEY_SCOPES = ("reader", "admin")
API_KEY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

BOOK_ID_PLACEHOLDER = "{book_id}"
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
    curation_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often the service looks for changed curation rules"
    )
    warm_readers: int = Field(
        default=50_000,
        ge=0,
        description="readers whose lists each worker makes after it starts, before they ask "
        "(the most recent borrowers first); every known reader's default list is also "
        "rendered once for every worker; 0: neither",
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1_024, description="larger request bodies are refused (413) unread"
    )

    record_url_template: str | None = Field(
        default=None, description="the catalog's record page, with {book_id}; widget links"
    )
    cover_url_template: str | None = Field(
        default=None, description="a cover image, with {book_id}; the widget shows none if unset"
    )
    widget_timeout_seconds: float = Field(
        default=4.0, gt=0, le=30, description="the widget gives up (and stays empty) after this"
    )
    demo_pages: bool = Field(
        default=False, description="serve /demo/record/{book_id}, a sample record page"
    )

    min_pair_support: int = Field(default=3, description="distinct readers linking two books")
    consent_mode: Literal["opt-in", "opt-out"] = "opt-out"
    consent_mode_minors: Literal["opt-in", "opt-out"] = Field(
        default="opt-in", description="the consent mode of readers in a minor category"
    )
    reader_categories: str = Field(
        default="",
        description="the library's reader category codes as CODE=category pairs, comma-separated "
        "(categories: child, young_adult, adult); the category names stand for themselves",
    )
    minor_categories: str = Field(
        default="child,young_adult", description="reader categories that are minors"
    )
    separate_minors: bool = Field(
        default=True,
        description="minors' histories never train the model, so they never shape other "
        "readers' lists; their own lists fold their loans in at each request",
    )
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

    engine: Literal["implicit", "spark"] = Field(
        default="implicit", description="what trains: implicit (one process) or spark"
    )
    spark_master: str = Field(
        default="local[*]", description="Spark master URL: local[*], spark://HOST:7077, yarn"
    )
    spark_driver_memory: str = Field(
        default="8g", description="JVM heap of the Spark driver (local mode: of all the work)"
    )
    spark_work_dir: Path | None = Field(
        default=None,
        description="Parquet snapshots and scratch; default <data_dir>/spark; shared on a cluster",
    )
    spark_jdbc_jar: Path = Field(
        default=Path("/usr/share/java/postgresql.jar"),
        description="PostgreSQL JDBC driver Spark reads the store with (Debian's package)",
    )
    consortium: bool = Field(
        default=False,
        description="libraries are members of a consortium: a library's lists add others' titles",
    )
    pool_libraries: str = Field(
        default="",
        description="comma-separated libraries whose loans train reader histories; empty: all",
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

    @field_validator("reader_categories")
    @classmethod
    def _category_codes(cls, value: str) -> str:
        category_codes(value)  # raises on a malformed pair or an unknown category
        return value

    @field_validator("minor_categories")
    @classmethod
    def _minor_categories(cls, value: str) -> str:
        unknown = sorted(set(_items(value)) - set(ReaderCategories.ALL))
        if unknown:
            raise ValueError(
                f"RECSYS_MINOR_CATEGORIES must name categories among "
                f"{list(ReaderCategories.ALL)}; got {unknown}"
            )
        return value

    @field_validator("record_url_template", "cover_url_template")
    @classmethod
    def _book_url_template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        variable = f"RECSYS_{(info.field_name or '').upper()}"
        rest = value.replace(BOOK_ID_PLACEHOLDER, "")
        if (
            BOOK_ID_PLACEHOLDER not in value
            or "{" in rest
            or "}" in rest
            or not (value.startswith(("https://", "http://", "/")))
        ):
            raise ValueError(
                f"{variable} must be an http(s) URL or a path starting with / that holds "
                f"{BOOK_ID_PLACEHOLDER} (and no other {{...}}); got {value!r}"
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
    def category_of_code(self) -> dict[str, str]:
        """The reader category of each category code an export may carry (`category_codes`)."""
        return category_codes(self.reader_categories)

    @property
    def minors(self) -> frozenset[str]:
        """The reader categories whose readers are minors (`RECSYS_MINOR_CATEGORIES`)."""
        return frozenset(_items(self.minor_categories))

    @property
    def pooled_libraries(self) -> tuple[str, ...] | None:
        """The libraries of `pool_libraries`, sorted (None: every library pools its loans)."""
        names = sorted({part.strip() for part in self.pool_libraries.split(",") if part.strip()})
        return tuple(names) or None

    @property
    def resolved_spark_work_dir(self) -> Path:
        return self.spark_work_dir or self.data_dir / "spark"

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
        scopes: dict[str, set[str]] = {}
        for key, scope, _ in self._api_key_entries():
            scopes.setdefault(key, set()).add(scope)
        return scopes

    def api_key_names(self) -> dict[str, str]:
        """Map each configured API key to its name: the one given (``KEY:admin:NAME``), else
        ``key-`` and the start of a digest of the key (never the key). Audit trails record it."""
        names: dict[str, str] = {}
        for key, _, name in self._api_key_entries():
            digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
            names[key] = name or names.get(key) or f"key-{digest}"
        return names

    def _api_key_entries(self) -> list[tuple[str, str, str | None]]:
        """(key, scope, name or None) of each ``KEY:SCOPE`` or ``KEY:SCOPE:NAME`` entry."""
        text = self.api_keys.get_secret_value() if self.api_keys else ""
        if self.api_keys_file.exists():
            text += "\n" + _read_secret_file(self.api_keys_file, "RECSYS_API_KEYS_FILE").decode()
        entries = []
        for pair in text.replace("\n", ",").split(","):
            parts = pair.strip().split(":")
            if parts == [""]:
                continue
            name = None
            if len(parts) >= 3 and parts[-2] in API_KEY_SCOPES:
                name = parts.pop()
                if not API_KEY_NAME.match(name):
                    raise ConfigurationError(
                        "an API key's name (KEY:SCOPE:NAME) must be 1 to 64 letters, digits, "
                        "dots, hyphens or underscores"
                    )
            scope = parts.pop()
            key = ":".join(parts)
            if not key or scope not in API_KEY_SCOPES:
                raise ConfigurationError(
                    "RECSYS_API_KEYS entries must look like KEY:reader or KEY:admin "
                    "(optionally KEY:admin:NAME)"
                )
            entries.append((key, scope, name))
        return entries


def category_codes(pairs: str) -> dict[str, str]:
    """Reader category codes (case-folded) and their categories from ``CODE=category`` pairs;
    each category's own name is a code of it too, unless a pair maps it elsewhere."""
    codes = {category: category for category in ReaderCategories.ALL}
    for pair in _items(pairs):
        code, _, category = (part.strip() for part in pair.partition("="))
        if not code or category not in ReaderCategories.ALL:
            raise ValueError(
                "RECSYS_READER_CATEGORIES must be CODE=category pairs with a category among "
                f"{list(ReaderCategories.ALL)}; got {pair!r}"
            )
        codes[code.casefold()] = category
    return codes


def _items(text: str) -> list[str]:
    """The non-empty comma-separated items of `text`, stripped."""
    return [item.strip() for item in text.split(",") if item.strip()]


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
