"""Keyed pseudonymization of reader ids (HMAC-SHA256).

Raw reader ids from the library system are replaced by `pseudonymize` at ingest and at the service
boundary, with the same key, so the store, models and logs only ever see pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

import pandas as pd

PSEUDONYM_HEX_CHARS = 32


class Pseudonymizer:
    """Turns raw reader ids into stable pseudonyms; the key never leaves this object."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymizer(key=***)"

    def pseudonymize(self, reader_id: str) -> str:
        """The pseudonym of one raw reader id (first 128 bits of the HMAC, hex)."""
        digest = hmac.new(self._key, str(reader_id).strip().encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:PSEUDONYM_HEX_CHARS]

    def pseudonymize_many(self, reader_ids: Iterable[str]) -> list[str]:
        return [self.pseudonymize(reader_id) for reader_id in reader_ids]

    def pseudonymize_series(self, reader_ids: pd.Series) -> pd.Series:
        """Pseudonymize a column, hashing each distinct id once (exports repeat ids a lot)."""
        codes, uniques = pd.factorize(reader_ids.astype(str), sort=False)
        mapped = pd.Index(self.pseudonymize_many(uniques))
        return pd.Series(mapped.take(codes), index=reader_ids.index, dtype=object)


def generate_key() -> bytes:
    """A fresh random key, 64 hex characters (32 random bytes)."""
    return secrets.token_hex(32).encode("ascii")
