"""Storage of the fingerprint of the key chain the store is keyed with (`recsys.store_key` says
why): one row, never a key. Keyword-only functions, bound parameters."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from recsys.db.tables import pseudonym_key

#: The one row of `pseudonym_key`.
KEY_ROW = 1


def stored_fingerprint(connection: Connection) -> str | None:
    """The fingerprint the store is keyed with (None: not recorded yet)."""
    query = select(pseudonym_key.c.fingerprint).where(pseudonym_key.c.key_id == KEY_ROW)
    return connection.execute(query).scalar_one_or_none()


def write_fingerprint(connection: Connection, *, fingerprint: str, at: int) -> None:
    """Record `fingerprint` at Unix time `at`, replacing any stored one, inside the caller's
    transaction."""
    values = {"fingerprint": fingerprint, "recorded_at": at}
    if stored_fingerprint(connection) is None:
        connection.execute(insert(pseudonym_key).values(key_id=KEY_ROW, **values))
    else:
        connection.execute(
            update(pseudonym_key).where(pseudonym_key.c.key_id == KEY_ROW).values(**values)
        )
