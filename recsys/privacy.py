"""Keyed pseudonymization of reader ids (HMAC-SHA256).

Raw reader ids from the library system are replaced by `pseudonymize` at ingest and at the service
boundary, with the same key, so the store, models and logs only ever see pseudonyms.

A key of several lines is a key chain, oldest key first (see `recsys.key_rotation`): the pseudonym
is HMAC(k_n, ... HMAC(k_1, raw)), so a key rotation re-pseudonymizes the store without raw ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

import pandas as pd

PSEUDONYM_HEX_CHARS = 32
#: What a key fingerprint is the keyed hash of. Reader ids are stripped before they are hashed,
#: so with its leading space no pseudonym is ever the hash of this message.
FINGERPRINT_MESSAGE = b" fingerprint of a recsys pseudonym key chain"


class Pseudonymizer:
    """Turns raw reader ids into stable pseudonyms; the key never leaves this object."""

    __slots__ = ("_keys",)

    def __init__(self, key: bytes) -> None:
        self._keys = split_key_chain(key)

    def __repr__(self) -> str:
        return "Pseudonymizer(key=***)"

    def pseudonymize(self, reader_id: str) -> str:
        """The pseudonym of one raw reader id (first 128 bits of the HMAC, hex; chained keys)."""
        return self.pseudonyms(reader_id)[-1]

    def pseudonyms(self, reader_id: str) -> tuple[str, ...]:
        """Every pseudonym the reader has had, one per key of the chain, oldest first (the last
        is `pseudonymize`): model runs trained before a key rotation know them by an older one."""
        value = str(reader_id).strip()
        found: list[str] = []
        for key in self._keys:
            value = chain_pseudonym(key, value)
            found.append(value)
        return tuple(found)

    def fingerprint(self) -> str:
        """A fingerprint of the key chain: equal fingerprints pseudonymize alike.

        It is a keyed hash (every key of the chain in turn) of a fixed message that is never a
        reader id, so it reveals nothing about the keys or any pseudonym. The store keeps it to
        notice a process that pseudonymizes with another key (a rotation it missed).
        """
        digest = b""
        for key in self._keys:
            digest = hmac.new(key, FINGERPRINT_MESSAGE + digest, hashlib.sha256).digest()
        return digest.hex()[:PSEUDONYM_HEX_CHARS]

    def pseudonymize_many(self, reader_ids: Iterable[str]) -> list[str]:
        return [self.pseudonymize(reader_id) for reader_id in reader_ids]

    def pseudonymize_series(self, reader_ids: pd.Series) -> pd.Series:
        """Pseudonymize a column, hashing each distinct id once (exports repeat ids a lot)."""
        codes, uniques = pd.factorize(reader_ids.astype(str), sort=False)
        mapped = pd.Index(self.pseudonymize_many(uniques))
        return pd.Series(mapped.take(codes), index=reader_ids.index, dtype=object)


def chain_pseudonym(key: bytes, value: str) -> str:
    """One link of the chain: the HMAC of `value` (a raw id or an older pseudonym) under `key`."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_HEX_CHARS]


def split_key_chain(key: bytes) -> tuple[bytes, ...]:
    """The keys of a key chain, one per non-empty line, oldest first (a one-line key is itself)."""
    keys = tuple(line.strip() for line in key.splitlines() if line.strip())
    return keys or (key,)


def generate_key() -> bytes:
    """A fresh random key, 64 hex characters (32 random bytes)."""
    return secrets.token_hex(32).encode("ascii")
