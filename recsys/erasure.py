"""The right to erasure: remove a reader's history from the store and stop personalizing at once.

`forget_reader` runs in one transaction: the reader's loans and views are deleted, a ``no``
consent answer is recorded under their pseudonym (so personalization is denied from this moment
and any later export of their loans is kept out of training), and a row ``(erasure, 1, at)`` is
added to `privacy_events`: erasures are counted, never listed by id. The published model still
holds the reader's factors until the next nightly publish, which trains without their rows; the
consent record makes the service ignore those factors meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select

from recsys.db.queries import delete_reader
from recsys.db.tables import consent, privacy_events

ERASURE_EVENT = "erasure"


@dataclass(frozen=True)
class ErasureResult:
    """What one erasure removed (counts only)."""

    loans_deleted: int
    views_deleted: int


def forget_reader(engine: Engine, *, pseudonym: str, at: int | None = None) -> ErasureResult:
    """Erase the reader `pseudonym`: delete loans and views, deny personalization, count it.

    Erasing an unknown or already erased reader is not an error: it records the refusal all the
    same, so the answer never reveals whether someone had a history.
    """
    now = int(time.time()) if at is None else int(at)
    with engine.begin() as connection:
        deleted = delete_reader(connection, reader_id=pseudonym)
        # An erasure overrides any stored answer, however recent its timestamp.
        connection.execute(delete(consent).where(consent.c.reader_id == pseudonym))
        connection.execute(
            insert(consent).values(reader_id=pseudonym, consented=False, updated_at=now)
        )
        connection.execute(insert(privacy_events).values(kind=ERASURE_EVENT, count=1, at=now))
    return ErasureResult(deleted["loans"], deleted["views"])


def erasure_count(engine: Engine) -> int:
    """How many erasures have been carried out (the only trace they leave)."""
    query = select(func.coalesce(func.sum(privacy_events.c.count), 0)).where(
        privacy_events.c.kind == ERASURE_EVENT
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())
