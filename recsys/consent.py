"""Consent rules: who may get personal suggestions and whose history may train personal models.

The consent mode (`Settings.consent_mode`) decides what a missing answer means:

- ``opt-in``: only readers recorded with ``consented = True`` are personalized and contribute;
- ``opt-out``: everyone is, unless recorded with ``consented = False`` (objection or erasure).

Readers in a category the library marks as minors (`Settings.minors`: children and young adults
by default; a loans or consent export's ``reader_category``, stored in ``reader_categories``) are
under `Settings.consent_mode_minors` (``opt-in`` by default) whatever the general mode: a minor
without a recorded ``yes`` is neither personalized nor trained on. A reader whose category is not
known is under the general mode. With `Settings.separate_minors` (the default) no minor trains
the model at all (see `filter_training_data`).

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

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.curation.feedback import with_reader_choices
from recsys.data.dataset import Dataset
from recsys.db.categories import load_categories
from recsys.db.consent import (
    CONSENT_COLUMNS,
    answers_and_categories,
    detach_refused_views,
    detach_views,
    load_consent,
    replace_answer,
    stored_answers,
    write_answers,
)
from recsys.db.feedback import load_exclusions, load_feedback
from recsys.db.queries import load_dataset

ConsentMode = Literal["opt-in", "opt-out"]
#: `updated_at` of a consent export row without a date (set by the row validation).
UNDATED = -1
#: The time an undated consent counts as given: before every dated answer.
UNDATED_CONSENT_TIME = 0
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


@dataclasses.dataclass(frozen=True)
class ConsentRule:
    """The consent mode of each reader: the minors' mode for a category marked as minors, the
    general mode for every other reader (and for a reader of unknown category)."""

    mode: ConsentMode
    minors_mode: ConsentMode
    minors: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> ConsentRule:
        return cls(settings.consent_mode, settings.consent_mode_minors, settings.minors)

    def is_minor(self, category: str | None) -> bool:
        return category is not None and category in self.minors

    def allows(self, consented: bool | None, category: str | None) -> bool:
        """May a reader of `category` whose recorded answer is `consented` be used?"""
        return allowed(consented, self.minors_mode if self.is_minor(category) else self.mode)


def may_personalize(engine: Engine, settings: Settings, *, reader_id: str) -> bool:
    """Whether the reader (a pseudonym) may get personal suggestions right now."""
    return reader_id in personalizable(engine, settings, [reader_id])


def personalizable(engine: Engine, settings: Settings, reader_ids: Iterable[str]) -> set[str]:
    """The subset of `reader_ids` (pseudonyms) that may get personal suggestions right now."""
    wanted = list(dict.fromkeys(reader_ids))
    answers, categories = answers_and_categories(engine, wanted)
    rule = ConsentRule.of(settings)
    return {r for r in wanted if rule.allows(answers.get(r), categories.get(r))}


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
    replace_answer(connection, reader_id=reader_id, consented=consented, at=at)
    if not consented:
        detach_views(connection, [reader_id])


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
    stored = stored_answers(connection, [reader for reader, _, _ in answers])
    new = [a for a in answers if a[0] not in stored]
    newer = [
        a
        for a in answers
        if a[0] in stored and answer_rank(a[1], a[2]) > answer_rank(*stored[a[0]])
    ]
    write_answers(connection, new=new, newer=newer)
    detach_views(connection, [r for r, ok, _ in new + newer if not ok])
    return len(new) + len(newer)


def detach_unconsented_sessions(engine: Engine, settings: Settings) -> int:
    """Detach every stored view whose reader may not be joined to sessions (nightly, after ingest).

    In ``opt-in`` mode this is every view of a reader without a recorded ``yes``; in ``opt-out``
    mode every view of a reader who said ``no`` (minors: under their own mode). Returns the
    number of views made anonymous.
    """
    rule = ConsentRule.of(settings)
    return detach_refused_views(
        engine, mode=rule.mode, minors_mode=rule.minors_mode, minors=rule.minors
    )


def filter_training_data(
    dataset: Dataset,
    consent_frame: pd.DataFrame,
    settings: Settings,
    *,
    categories: pd.DataFrame | None = None,
) -> Dataset:
    """Keep only interactions of readers who may contribute; anonymous views are dropped too.

    A view without a reader (an anonymous session) cannot train a per-reader model, and a view of
    a reader who may not contribute would join their session to them: both go. `categories`
    (`load_categories`) tells minors apart: they contribute under the minors' consent mode, and
    not at all with `Settings.separate_minors`.
    """
    frame = dataset.interactions
    readers = frame[C.READER_ID]
    named = readers.notna() & ~readers.astype(str).isin(["", "None", "nan", "<NA>"])
    rule = ConsentRule.of(settings)
    answers = consent_frame.set_index(C.READER_ID)[C.CONSENTED].astype(bool)
    category = (
        pd.Series(dtype=object)
        if categories is None
        else categories.set_index(C.READER_ID)[C.READER_CATEGORY]
    )
    minor = pd.Series(
        [rule.is_minor(c) for c in category.tolist()], index=category.index, dtype=bool
    )
    distinct = pd.Index(pd.unique(readers[named].astype(str)))
    is_minor = minor.reindex(distinct, fill_value=False).to_numpy()
    answer = answers.reindex(distinct)
    agreed, refused = answer.eq(True).to_numpy(), answer.eq(False).to_numpy()
    modes = np.where(is_minor, rule.minors_mode, rule.mode)
    contributes = np.where(modes == "opt-in", agreed, ~refused)
    if settings.separate_minors:
        contributes &= ~is_minor
    keep = named & readers.astype(str).isin(distinct[contributes])
    return dataclasses.replace(dataset, interactions=frame.loc[keep].reset_index(drop=True))


def load_training_dataset(engine: Engine, settings: Settings) -> Dataset:
    """The stored data that may train models: every loader of training data goes through here.

    Readers' feedback joins their loans and the books they excluded leave them
    (`recsys.curation.feedback.with_reader_choices`); then only readers who may contribute stay.
    """
    dataset = with_reader_choices(
        load_dataset(engine), load_feedback(engine), load_exclusions(engine)
    )
    return filter_training_data(
        dataset, load_consent(engine), settings, categories=load_categories(engine)
    )
