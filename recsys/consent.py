"""Consent rules: who may get personal suggestions and whose history may train personal models.

The consent mode (`Settings.consent_mode`) decides what a missing answer means:

- ``opt-in``: only readers recorded with ``consented = True`` are personalized and contribute;
- ``opt-out``: everyone is, unless recorded with ``consented = False`` (objection or erasure).

The same rule covers browse sessions: a view is joined to a reader only when the reader was logged
in (the export names them) *and* may contribute; any other view stays anonymous.

Which answer is in force:

- an answer given through `recsys consent`, the admin API or an erasure (`recsys forget`) is the
  reader's decision now: it takes effect at once, whatever is stored and however it is dated
  (`set_consent`);
- a consent export's rows (`apply_consents`) replace a stored answer only when they rank above
  it: the later time wins and, at the same time, a refusal wins. An answer cannot have been
  given after it was recorded, so a date in the future counts as the time of recording; an
  undated refusal counts as given at the time of recording, and an undated consent as given at
  `UNDATED_CONSENT_TIME`, before any dated answer. So an erasure or an objection is overridden
  only by a consent that is explicit, dated and later; an old or undated export never undoes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.db.queries import load_dataset
from recsys.db.tables import consent, views

ConsentMode = Literal["opt-in", "opt-out"]
#: `updated_at` of a consent export row without a date (set by the row validation).
UNDATED = -1
#: The time an undated consent counts as given: before every dated answer.
UNDATED_CONSENT_TIME = 0
CONSENT_COLUMNS = (C.READER_ID, C.CONSENTED, C.UPDATED_AT)
CONSENT_ANSWERS = {
    **dict.fromkeys(("yes", "y", "true", "1"), True),
    **dict.fromkeys(("no", "n", "false", "0"), False),
}


def parse_consent(value: object) -> bool:
    """Read a consent answer (yes/no, true/false, 1/0, any case); raise ValueError otherwise."""
    if isinstance(value, bool):
        return value
    answer = CONSENT_ANSWERS.get(str(value).strip().lower())
    if answer is None:
        raise ValueError(f"consented must be one of yes/no/true/false/1/0; got {value!r}")
    return answer


def allowed(consented: bool | None, mode: ConsentMode) -> bool:
    """The rule itself: may a reader whose recorded answer is `consented` (None: none) be used?"""
    if mode == "opt-in":
        return consented is True
    return consented is not False


def may_personalize(engine: Engine, settings: Settings, *, reader_id: str) -> bool:
    """Whether the reader (a pseudonym) may get personal suggestions right now."""
    query = select(consent.c.consented).where(consent.c.reader_id == reader_id)
    with engine.connect() as connection:
        consented = connection.execute(query).scalar_one_or_none()
    return allowed(None if consented is None else bool(consented), settings.consent_mode)


def personalizable(engine: Engine, settings: Settings, reader_ids: Iterable[str]) -> set[str]:
    """The subset of `reader_ids` (pseudonyms) that may get personal suggestions right now."""
    wanted = list(dict.fromkeys(reader_ids))
    answers: dict[str, bool] = {}
    query = select(consent.c.reader_id, consent.c.consented).where(
        consent.c.reader_id.in_(bindparam("ids", expanding=True))
    )
    with engine.connect() as connection:
        for start in range(0, len(wanted), 1000):
            rows = connection.execute(query, {"ids": wanted[start : start + 1000]})
            answers.update((reader, bool(value)) for reader, value in rows)
    return {r for r in wanted if allowed(answers.get(r), settings.consent_mode)}


def set_consent(engine: Engine, *, reader_id: str, consented: bool, at: int | None = None) -> None:
    """Record the answer a reader gives now (`recsys consent`, the admin API), at Unix time `at`
    (default: now): it takes effect at once, replacing any stored answer however it is dated.

    Withdrawing consent also detaches the reader's browse sessions (their views become anonymous).
    """
    now = int(time.time()) if at is None else int(at)
    with engine.begin() as connection:
        record_answer(connection, reader_id=reader_id, consented=consented, at=now)


def record_answer(connection: Connection, *, reader_id: str, consented: bool, at: int) -> None:
    """Replace the reader's answer inside the caller's transaction (see `set_consent`)."""
    connection.execute(delete(consent).where(consent.c.reader_id == reader_id))
    connection.execute(
        insert(consent).values(reader_id=reader_id, consented=consented, updated_at=at)
    )
    if not consented:
        detach_sessions(connection, [reader_id])


def answer_rank(consented: bool, at: int) -> tuple[int, bool]:
    """How export answers are ordered: the later time first, then a refusal over a consent."""
    return int(at), not consented


def export_times(frame: pd.DataFrame, *, now: int) -> pd.Series:
    """The time each export answer counts as given (see the module docstring): dates after `now`
    become `now`; undated refusals `now`, undated consents `UNDATED_CONSENT_TIME`."""
    dated = frame[C.UPDATED_AT].astype("int64")
    undated = dated == UNDATED
    refusal = ~frame[C.CONSENTED].astype(bool)
    times = dated.clip(upper=now)
    times = times.mask(undated & refusal, now)
    return times.mask(undated & ~refusal, UNDATED_CONSENT_TIME)


def apply_consents(connection: Connection, frame: pd.DataFrame, *, now: int | None = None) -> int:
    """Upsert export answers `[reader_id, consented, updated_at]` (pseudonyms; `updated_at` may
    be `UNDATED`) inside the caller's transaction: per reader, the answer of highest
    `answer_rank` among the stored one and these is kept. Returns how many readers' answers
    changed. `now` is the time of recording (default: now).
    """
    if frame.empty:
        return 0
    now = int(time.time()) if now is None else int(now)
    ranked = frame.loc[:, list(CONSENT_COLUMNS)].assign(
        **{C.UPDATED_AT: export_times(frame, now=now)}
    )
    ranked = ranked.assign(refusal=~ranked[C.CONSENTED].astype(bool))
    latest = ranked.sort_values([C.UPDATED_AT, "refusal"], kind="stable").drop_duplicates(
        C.READER_ID, keep="last"
    )
    answers = [
        (str(r), bool(c), int(t))
        for r, c, t in latest[list(CONSENT_COLUMNS)].itertuples(index=False, name=None)
    ]
    stored = _stored_answers(connection, [reader for reader, _, _ in answers])
    new = [a for a in answers if a[0] not in stored]
    newer = [
        a
        for a in answers
        if a[0] in stored and answer_rank(a[1], a[2]) > answer_rank(*stored[a[0]])
    ]
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
    detach_sessions(connection, [r for r, ok, _ in new + newer if not ok])
    return len(new) + len(newer)


def detach_sessions(connection: Connection, reader_ids: Iterable[str]) -> int:
    """Make the views of these readers anonymous (the session stays, the link to them goes)."""
    params = [{"rid": reader_id} for reader_id in reader_ids]
    if not params:
        return 0
    result = connection.execute(
        update(views).where(views.c.reader_id == bindparam("rid")).values(reader_id=None), params
    )
    return int(result.rowcount or 0)


def detach_unconsented_sessions(engine: Engine, settings: Settings) -> int:
    """Detach every stored view whose reader may not be joined to sessions (nightly, after ingest).

    In ``opt-in`` mode this is every view of a reader without a recorded ``yes``; in ``opt-out``
    mode every view of a reader who said ``no``. Returns the number of views made anonymous.
    """
    linked = views.c.reader_id.is_not(None)
    if settings.consent_mode == "opt-in":
        agreed = select(consent.c.reader_id).where(consent.c.consented.is_(True))
        condition = linked & views.c.reader_id.not_in(agreed)
    else:
        refused = select(consent.c.reader_id).where(consent.c.consented.is_(False))
        condition = linked & views.c.reader_id.in_(refused)
    with engine.begin() as connection:
        result = connection.execute(update(views).where(condition).values(reader_id=None))
    return int(result.rowcount or 0)


def load_consent(engine: Engine) -> pd.DataFrame:
    """All recorded answers as `[reader_id, consented, updated_at]` (pseudonyms)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(consent.c.reader_id, consent.c.consented, consent.c.updated_at)
        ).all()
    frame = pd.DataFrame(rows, columns=list(CONSENT_COLUMNS))
    return frame.astype({C.READER_ID: object, C.CONSENTED: bool, C.UPDATED_AT: "int64"})


def filter_training_data(
    dataset: Dataset, consent_frame: pd.DataFrame, settings: Settings
) -> Dataset:
    """Keep only interactions of readers who may contribute; anonymous views are dropped too.

    A view without a reader (an anonymous session) cannot train a per-reader model, and a view of
    a reader who may not contribute would join their session to them: both go.
    """
    frame = dataset.interactions
    readers = frame[C.READER_ID]
    named = readers.notna() & ~readers.astype(str).isin(["", "None", "nan", "<NA>"])
    answers = consent_frame.loc[:, [C.READER_ID, C.CONSENTED]]
    if settings.consent_mode == "opt-in":
        agreed = answers.loc[answers[C.CONSENTED].astype(bool), C.READER_ID]
        keep = named & readers.isin(set(agreed))
    else:
        refused = answers.loc[~answers[C.CONSENTED].astype(bool), C.READER_ID]
        keep = named & ~readers.isin(set(refused))
    return dataclasses.replace(dataset, interactions=frame.loc[keep].reset_index(drop=True))


def _stored_answers(connection: Connection, reader_ids: list[str]) -> dict[str, tuple[bool, int]]:
    """The answer and time of readers already recorded (queried in chunks of bound parameters)."""
    stored: dict[str, tuple[bool, int]] = {}
    for start in range(0, len(reader_ids), 500):
        chunk = reader_ids[start : start + 500]
        query = select(consent.c.reader_id, consent.c.consented, consent.c.updated_at).where(
            consent.c.reader_id.in_(chunk)
        )
        stored.update({r: (bool(c), int(t)) for r, c, t in connection.execute(query).all()})
    return stored


def load_training_dataset(engine: Engine, settings: Settings) -> Dataset:
    """The stored data that may train models: every loader of training data goes through here."""
    return filter_training_data(load_dataset(engine), load_consent(engine), settings)
