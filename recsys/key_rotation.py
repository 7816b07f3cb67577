"""Pseudonym key rotation without raw reader ids: HMAC chaining.

The store never holds raw reader ids (card numbers), so it cannot be pseudonymized afresh with a
new key. A rotation therefore applies the new key *on top of* the stored pseudonyms:

    stored pseudonym p = HMAC(k1, raw)        becomes        p' = HMAC(k2, p)

and the key file becomes a **key chain**, one key a line, oldest first. The `Pseudonymizer` of
`recsys.privacy` applies every key of the chain in turn, so ingest, the CLI and the service compute
HMAC(k2, HMAC(k1, raw)) for a card number and find the same reader as before the rotation.

Why it is sound: linking a card number to a stored pseudonym needs *every* key of the chain, so an
old key that leaked no longer links anything in the store, nor in models trained after the
rotation. The old keys stay in the key file (0600) because the chain needs them; the newest key is
what must stay secret.

What a rotation touches, in one database transaction: every table with a ``reader_id`` column
(loans, views, consent). Consent answers move with their reader, so objections and erased readers
stay refused; `privacy_events` holds counts only and is left as it is (erasures stay counted); a
``key_rotation`` event records how many readers were re-pseudonymized. No key is written to the
database, the models directory or a log.

Order of `rotate_key_file`, so a crash never loses the link to readers' history: the new chain is
first written to ``<key file>.next`` (0600), then the store is rotated and committed, then the
chain file replaces the key file atomically. A leftover ``.next`` file means a rotation was
interrupted; the command refuses to run until the operator has checked it (see docs/privacy.md).

The store keeps a fingerprint of its key chain (`recsys.store_key`), replaced in the rotation's
transaction: a running service notices the new fingerprint within a poll interval and reads the
key file again (a key from ``RECSYS_PSEUDONYM_KEY`` cannot be re-read: the service then refuses
reader routes with 503 until restarted with the new chain); any other process with the old chain
is refused before it writes. Run the nightly afterwards, which trains a model on the new
pseudonyms; until it is published, readers get the non-personal fallback. Older model runs still
hold old pseudonyms (an erasure purges a reader from them under every pseudonym of the chain):
after a key leak, delete them (`keep_runs` prunes them).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, bindparam, insert, select, update

from recsys.config import Settings
from recsys.db.tables import metadata, privacy_events
from recsys.exceptions import ConfigurationError
from recsys.privacy import Pseudonymizer, chain_pseudonym, split_key_chain
from recsys.store_key import check_key, record_key

KEY_ROTATION_EVENT = "key_rotation"
PENDING_SUFFIX = ".next"


@dataclass(frozen=True)
class RotationResult:
    """What a rotation changed (counts only)."""

    readers: int
    rows: int


def next_key_chain(old_key: bytes, new_key: bytes) -> bytes:
    """The key chain after rotating `old_key` (a key or chain) to `new_key`, one key a line."""
    _check_new_key(old_key, new_key)
    return b"\n".join((*split_key_chain(old_key.strip()), new_key.strip())) + b"\n"


def rotate_key(
    engine: Engine, *, old_key: bytes, new_key: bytes, at: int | None = None
) -> RotationResult:
    """Re-pseudonymize the store from the chain `old_key` to the chain ending in `new_key`.

    Every stored pseudonym p becomes HMAC(new_key, p) in every table with a ``reader_id`` column,
    in one transaction, which also records the new chain's fingerprint (`recsys.store_key`).
    `old_key` is the current key or chain, refused if the store is keyed with another; the new key
    must not already be in it (rotating twice with one key would unlink every reader).
    """
    chain = next_key_chain(old_key, new_key)
    link = new_key.strip()
    tables = [table for table in metadata.sorted_tables if "reader_id" in table.c]
    rows = 0
    with engine.begin() as connection:
        check_key(connection, Pseudonymizer(old_key))
        stored: set[str] = set()
        for table in tables:
            query = select(table.c.reader_id).where(table.c.reader_id.is_not(None)).distinct()
            stored.update(connection.execute(query).scalars())
        mapping = [{"old_id": p, "new_id": chain_pseudonym(link, p)} for p in sorted(stored)]
        for table in tables:
            if not mapping:
                break
            statement = (
                update(table)
                .where(table.c.reader_id == bindparam("old_id"))
                .values(reader_id=bindparam("new_id"))
            )
            result = connection.execute(statement, mapping)
            rows += int(result.rowcount or 0)
        now = int(time.time()) if at is None else int(at)
        connection.execute(
            insert(privacy_events).values(kind=KEY_ROTATION_EVENT, count=len(mapping), at=now)
        )
        record_key(connection, Pseudonymizer(chain))
    return RotationResult(readers=len(mapping), rows=rows)


def rotate_key_file(engine: Engine, settings: Settings, *, new_key_file: Path) -> RotationResult:
    """Rotate the store to the key in `new_key_file` and append it to the configured key file.

    Refuses when the key comes from ``RECSYS_PSEUDONYM_KEY`` (the chain lives in the key file),
    when the new key file is unsafe or weak, and when an earlier rotation was interrupted.
    """
    if settings.pseudonym_key is not None:
        raise ConfigurationError(
            "rotate-key keeps the key chain in the key file: unset RECSYS_PSEUDONYM_KEY and point "
            "RECSYS_PSEUDONYM_KEY_FILE at a 0600 file holding the current key"
        )
    key_file = Path(settings.pseudonym_key_file)
    pending = key_file.with_name(key_file.name + PENDING_SUFFIX)
    if pending.exists():
        raise ConfigurationError(
            f"an earlier key rotation was interrupted: {pending} exists. If the store was rotated "
            f"(its `key_rotation` event is recorded), move {pending} over {key_file}; otherwise "
            "delete it. Then run rotate-key again if needed"
        )
    old_key = settings.pseudonym_key_bytes()
    new_key = settings.model_copy(
        update={"pseudonym_key": None, "pseudonym_key_file": Path(new_key_file)}
    ).pseudonym_key_bytes()
    chain = next_key_chain(old_key, new_key)
    _write_private(pending, chain)
    try:
        result = rotate_key(engine, old_key=old_key, new_key=new_key)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    os.replace(pending, key_file)
    _fsync_dir(key_file.parent)
    return result


def _check_new_key(old_key: bytes, new_key: bytes) -> None:
    link = new_key.strip()
    if len(split_key_chain(link)) != 1:
        raise ConfigurationError("the new pseudonym key must be a single key (one line)")
    if link in split_key_chain(old_key.strip()):
        raise ConfigurationError(
            "the new pseudonym key is already in the key chain; generate a fresh one"
        )


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 (never overwriting) and sync it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
