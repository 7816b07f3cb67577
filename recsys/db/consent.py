"""Storage of readers' consent answers, and the views they detach (the rules, which answer wins
and who may be used, are `recsys.consent`'s). Keyword-only functions, bound parameters;
pseudonyms only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from recsys.columns import Columns as C
from recsys.db.tables import consent, reader_categories, views

CONSENT_COLUMNS = (C.READER_ID, C.CONSENTED, C.UPDATED_AT)
#: A stored answer: (reader pseudonym, consented, Unix time).
Answer = tuple[str, bool, int]


def load_consent(engine: Engine) -> pd.DataFrame:
    """All recorded answers as `[reader_id, consented, updated_at]` (pseudonyms)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(consent.c.reader_id, consent.c.consented, consent.c.updated_at)
        ).all()
    frame = pd.DataFrame(rows, columns=list(CONSENT_COLUMNS))
    return frame.astype({C.READER_ID: object, C.CONSENTED: bool, C.UPDATED_AT: "int64"})


def answers_and_categories(
    engine: Engine, reader_ids: Sequence[str]
) -> tuple[dict[str, bool], dict[str, str]]:
    """The recorded answer and the category of those of `reader_ids` that have one."""
    answers: dict[str, bool] = {}
    categories: dict[str, str] = {}
    ids: BindParameter[str] = bindparam("ids", expanding=True)
    query = select(consent.c.reader_id, consent.c.consented).where(consent.c.reader_id.in_(ids))
    category_query = select(reader_categories.c.reader_id, reader_categories.c.category).where(
        reader_categories.c.reader_id.in_(ids)
    )
    with engine.connect() as connection:
        for start in range(0, len(reader_ids), 1000):
            chunk = {"ids": list(reader_ids[start : start + 1000])}
            answers.update((r, bool(value)) for r, value in connection.execute(query, chunk))
            categories.update((r, c) for r, c in connection.execute(category_query, chunk))
    return answers, categories


def stored_answers(
    connection: Connection, reader_ids: Sequence[str]
) -> dict[str, tuple[bool, int]]:
    """The answer and time of those of `reader_ids` already recorded (in chunks of bound
    parameters)."""
    stored: dict[str, tuple[bool, int]] = {}
    for start in range(0, len(reader_ids), 500):
        chunk = reader_ids[start : start + 500]
        query = select(consent.c.reader_id, consent.c.consented, consent.c.updated_at).where(
            consent.c.reader_id.in_(chunk)
        )
        stored.update({r: (bool(c), int(t)) for r, c, t in connection.execute(query).all()})
    return stored


def replace_answer(connection: Connection, *, reader_id: str, consented: bool, at: int) -> None:
    """Store the reader's answer in place of any stored one, inside the caller's transaction."""
    connection.execute(delete(consent).where(consent.c.reader_id == reader_id))
    connection.execute(
        insert(consent).values(reader_id=reader_id, consented=consented, updated_at=at)
    )


def write_answers(
    connection: Connection, *, new: Sequence[Answer], newer: Sequence[Answer]
) -> None:
    """Insert the answers of readers without one (`new`) and replace stored ones (`newer`),
    inside the caller's transaction."""
    if new:
        connection.execute(
            insert(consent),
            [{C.READER_ID: r, C.CONSENTED: ok, C.UPDATED_AT: t} for r, ok, t in new],
        )
    if newer:
        connection.execute(
            update(consent)
            .where(consent.c.reader_id == bindparam("rid"))
            .values(consented=bindparam("ok"), updated_at=bindparam("ts")),
            [{"rid": r, "ok": ok, "ts": t} for r, ok, t in newer],
        )


def detach_views(connection: Connection, reader_ids: Iterable[str]) -> int:
    """Make the views of these readers anonymous (the session stays, the link to them goes);
    how many."""
    params = [{"rid": reader_id} for reader_id in reader_ids]
    if not params:
        return 0
    result = connection.execute(
        update(views).where(views.c.reader_id == bindparam("rid")).values(reader_id=None), params
    )
    return int(result.rowcount or 0)


def detach_refused_views(
    engine: Engine, *, mode: str, minors_mode: str, minors: frozenset[str]
) -> int:
    """Make anonymous every view of a reader who may not be used: under `minors_mode` for a
    reader whose category is in `minors`, under `mode` for every other (`recsys.consent`'s
    rule, in the database); how many."""
    reader = views.c.reader_id
    refused = _refused(reader, mode)
    if minors_mode != mode and minors:
        minor = reader.in_(
            select(reader_categories.c.reader_id).where(
                reader_categories.c.category.in_(sorted(minors))
            )
        )
        refused = or_(and_(~minor, refused), and_(minor, _refused(reader, minors_mode)))
    with engine.begin() as connection:
        result = connection.execute(
            update(views).where(reader.is_not(None) & refused).values(reader_id=None)
        )
    return int(result.rowcount or 0)


def _refused(reader_id: ColumnElement[str], mode: str) -> ColumnElement[bool]:
    """SQL: the reader in `reader_id` may not be used under the consent `mode`."""
    if mode == "opt-in":
        return reader_id.not_in(select(consent.c.reader_id).where(consent.c.consented.is_(True)))
    return reader_id.in_(select(consent.c.reader_id).where(consent.c.consented.is_(False)))
