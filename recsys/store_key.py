"""The store remembers which pseudonym key chain it is keyed with: a fingerprint, never the key.

Every process that writes pseudonyms or acts on a reader's pseudonym (ingest, `recsys forget` and
`recsys consent`, the admin routes, the service's reader routes) compares its key's fingerprint
(`Pseudonymizer.fingerprint`) with the one stored here. With another key its pseudonyms would
name nobody: an erasure would delete nothing, an objection would be recorded for no one, and an
export would split readers from their history. So a mismatch is refused with
`KeyMismatchError` before anything is written. The first process that writes to a store without
a fingerprint records its own; `recsys rotate-key` replaces it in the rotation's transaction.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, insert, select, update

from recsys.db.tables import pseudonym_key
from recsys.exceptions import ConfigurationError
from recsys.privacy import Pseudonymizer

#: The one row of `pseudonym_key`.
KEY_ROW = 1


class KeyMismatchError(ConfigurationError):
    """This process pseudonymizes with another key chain than the one the store is keyed with."""


def stored_fingerprint(connection: Connection) -> str | None:
    """The fingerprint of the key chain the store is keyed with (None: not recorded yet)."""
    query = select(pseudonym_key.c.fingerprint).where(pseudonym_key.c.key_id == KEY_ROW)
    return connection.execute(query).scalar_one_or_none()


def matches_store(engine: Engine, pseudonymizer: Pseudonymizer) -> bool:
    """Whether `pseudonymizer` has the store's key chain (true while none is recorded)."""
    with engine.connect() as connection:
        stored = stored_fingerprint(connection)
    return stored is None or stored == pseudonymizer.fingerprint()


def check_key(connection: Connection, pseudonymizer: Pseudonymizer) -> None:
    """Refuse a key chain other than the store's; record this one if the store has none yet.

    Runs inside the caller's transaction, so nothing the caller writes is kept on a mismatch.
    """
    stored = stored_fingerprint(connection)
    fingerprint = pseudonymizer.fingerprint()
    if stored is None:
        connection.execute(
            insert(pseudonym_key).values(
                key_id=KEY_ROW, fingerprint=fingerprint, recorded_at=int(time.time())
            )
        )
    elif stored != fingerprint:
        raise KeyMismatchError(
            "the configured pseudonym key is not the one the store is keyed with (its "
            "fingerprint differs; was the key rotated with `recsys rotate-key` and this "
            "process started before, or given another key file?); nothing was changed. "
            "Use the store's key chain (RECSYS_PSEUDONYM_KEY_FILE)"
        )


def check_store_key(engine: Engine, pseudonymizer: Pseudonymizer) -> None:
    """`check_key` in a transaction of its own."""
    with engine.begin() as connection:
        check_key(connection, pseudonymizer)


def record_key(connection: Connection, pseudonymizer: Pseudonymizer) -> None:
    """Key the store with `pseudonymizer`'s chain (a rotation), inside the caller's transaction."""
    values = {"fingerprint": pseudonymizer.fingerprint(), "recorded_at": int(time.time())}
    if stored_fingerprint(connection) is None:
        connection.execute(insert(pseudonym_key).values(key_id=KEY_ROW, **values))
    else:
        connection.execute(
            update(pseudonym_key).where(pseudonym_key.c.key_id == KEY_ROW).values(**values)
        )
