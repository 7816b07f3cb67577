"""Readers' voice: their feedback on books, and the books they keep out of what feeds their lists.

The rules, wherever feedback comes from (the API, `recsys ingest feedback`):

- a reader says one of `Feedback.ALL` about a book: ``not_interested``, ``already_read`` (borrowed
  elsewhere, bought, read long ago) or ``liked``. ``liked`` and ``not_interested`` exclude each
  other: giving one takes the other back. One (reader, book, kind) is stored once, with the time
  it was last given. Events apply in time order (at the same time a withdrawal comes last, and
  ``not_interested`` after ``liked``); an event older than what is stored for its book (its own
  kind, or the kind it would take back) is ignored, so an old export never undoes newer
  feedback. Taking feedback back deletes it;
- an exclusion keeps a book out of what feeds the reader's suggestions, at once and at every
  later training, without touching the loan record the library keeps for circulation;
- what feeds a reader's lists (`recsys.lists.history`): their loan events and their
  ``already_read`` and ``liked`` books (dated when given), minus the books they excluded or are
  not interested in. A book they are not interested in (every record of its work) or excluded
  never appears in their lists;
- training (`with_reader_choices`): feedback joins the interactions as events named by their kind
  (`recsys.models.weighting`: ``already_read`` and ``liked`` weigh as positive signals,
  ``not_interested`` as none, and the default hybrid learns it as a negative one); every
  interaction of an excluded (reader, book) is left out.

Feedback and exclusions are stored under the reader's pseudonym and follow the loans' rules:
consent (a reader who may not be personalized has their feedback kept but used nowhere), erasure
(`recsys.erasure` deletes them) and retention (`recsys.db.queries.delete_events_before`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.data.dataset import INTERACTION_COLUMNS, Dataset
from recsys.db import feedback as store

#: Giving one of these kinds takes the other back.
CONTRADICTS = {Feedback.LIKED: Feedback.NOT_INTERESTED, Feedback.NOT_INTERESTED: Feedback.LIKED}


@dataclass(frozen=True)
class FeedbackEvent:
    """A feedback given or taken back at Unix time `at` (`reader_id` is a pseudonym)."""

    reader_id: str
    book_id: str
    kind: str
    at: int
    withdrawn: bool = False


@dataclass(frozen=True)
class Outcome:
    """What applying feedback events changed: keys (reader, book, kind) given and removed, and
    how many events took effect (the others were older than what was stored)."""

    given: dict[store.Key, int]
    removed: set[store.Key]
    applied: int


def resolve(stored: dict[store.Key, int], events: Iterable[FeedbackEvent]) -> Outcome:
    """The rows to write after `events`, applied in order (`_order`) on the `stored` feedback."""
    state = dict(stored)
    applied = 0
    for event in sorted(events, key=_order):
        key = (event.reader_id, event.book_id, event.kind)
        other = CONTRADICTS.get(event.kind)
        contradicted = None if other is None else (event.reader_id, event.book_id, other)
        if state.get(key, event.at) > event.at or (
            not event.withdrawn and contradicted is not None and _newer(state, contradicted, event)
        ):
            continue
        applied += 1
        if event.withdrawn:
            state.pop(key, None)
            continue
        state[key] = event.at
        if contradicted is not None:
            state.pop(contradicted, None)
    given = {key: at for key, at in state.items() if stored.get(key) != at}
    return Outcome(given, set(stored) - set(state), applied)


def _order(event: FeedbackEvent) -> tuple[int, bool, bool]:
    """Time order; at one time a withdrawal last, and not_interested after liked."""
    return event.at, event.withdrawn, event.kind == Feedback.NOT_INTERESTED


def _newer(state: dict[store.Key, int], contradicted: store.Key, event: FeedbackEvent) -> bool:
    """Whether the stored feedback `event` would take back ranks after it (`_order`)."""
    at = state.get(contradicted)
    if at is None:
        return False
    return (at, contradicted[2] == Feedback.NOT_INTERESTED) > (
        event.at,
        event.kind == Feedback.NOT_INTERESTED,
    )


def apply_events(
    connection: Connection, events: Sequence[FeedbackEvent], *, file_id: int | None = None
) -> Outcome:
    """Apply feedback events inside the caller's transaction; what changed."""
    stored = store.stored_feedback(connection, (e.reader_id for e in events))
    outcome = resolve(stored, events)
    store.write_feedback(
        connection,
        given=sorted(outcome.given.items()),
        removed=sorted(outcome.removed),
        file_id=file_id,
    )
    return outcome


def give_feedback(
    engine: Engine, *, reader_id: str, book_id: str, kind: str, at: int | None = None
) -> Outcome:
    """Record what the reader says about a book now (it replaces a contradicting feedback)."""
    event = FeedbackEvent(reader_id, book_id, kind, _now(at))
    with engine.begin() as connection:
        return apply_events(connection, [event])


def withdraw_feedback(
    engine: Engine, *, reader_id: str, book_id: str, kinds: Sequence[str] = Feedback.ALL
) -> list[str]:
    """Take back the reader's `kinds` of feedback on a book, however dated; the kinds that
    went."""
    with engine.begin() as connection:
        stored = store.stored_feedback(connection, [reader_id])
        removed = sorted(key for key in stored if key[1] == book_id and key[2] in kinds)
        store.write_feedback(connection, given=[], removed=removed)
    return [kind for _, _, kind in removed]


def events_of_export(frame: pd.DataFrame) -> list[FeedbackEvent]:
    """A validated feedback export chunk (`reader_id` pseudonymized) as events."""
    return [
        FeedbackEvent(str(r), str(b), str(k), int(t), bool(w))
        for r, b, k, t, w in frame[
            [C.READER_ID, C.BOOK_ID, C.FEEDBACK_KIND, C.GIVEN_AT, C.WITHDRAWN]
        ].itertuples(index=False, name=None)
    ]


def exclude_book(engine: Engine, *, reader_id: str, book_id: str, at: int | None = None) -> bool:
    """Keep a book out of what feeds the reader's suggestions; False when it already was."""
    with engine.begin() as connection:
        return store.add_exclusion(connection, reader_id=reader_id, book_id=book_id, at=_now(at))


def include_book(engine: Engine, *, reader_id: str, book_id: str) -> bool:
    """Let an excluded book feed the reader's suggestions again; False when it was not excluded."""
    with engine.begin() as connection:
        return store.remove_exclusion(connection, reader_id=reader_id, book_id=book_id)


def with_reader_choices(
    dataset: Dataset, feedback: pd.DataFrame, exclusions: pd.DataFrame
) -> Dataset:
    """`dataset` with the readers' feedback as interactions (`store.FEEDBACK_COLUMNS`; the event
    is the kind) and without any interaction of an excluded (reader, book)
    (`store.EXCLUSION_COLUMNS`)."""
    events = pd.DataFrame(
        {
            C.READER_ID: feedback[C.READER_ID].astype(str),
            C.BOOK_ID: feedback[C.BOOK_ID].astype(str),
            C.EVENT: feedback[C.FEEDBACK_KIND].astype(str),
            C.TIMESTAMP: pd.to_datetime(feedback[C.GIVEN_AT].astype("int64"), unit="s", utc=True),
            C.LIBRARY_ID: pd.Series([None] * len(feedback), dtype=object),
        }
    )
    frame = dataset.interactions
    if len(events):
        frame = pd.concat([frame, events[list(INTERACTION_COLUMNS)]], ignore_index=True)
    if len(exclusions):
        excluded = pd.MultiIndex.from_frame(exclusions[[C.READER_ID, C.BOOK_ID]].astype(str))
        pairs = pd.MultiIndex.from_arrays(
            [frame[C.READER_ID].astype(str), frame[C.BOOK_ID].astype(str)]
        )
        frame = frame.loc[~pairs.isin(excluded)]
    if frame is dataset.interactions:
        return dataset
    return dataclasses.replace(dataset, interactions=frame.reset_index(drop=True))


def _now(at: int | None) -> int:
    return int(time.time()) if at is None else int(at)
