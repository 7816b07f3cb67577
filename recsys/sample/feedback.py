"""Readers' feedback on books, as a discovery layer would collect it, drawn from the same tastes
that drew the loans.

A share of the readers (`SampleConfig.feedback_share`, the more active ones more often) give
feedback during their membership:

- ``liked``: some of their loans of a book in one of their own subjects, a few days to a month
  after the loan;
- ``already_read``: books of their taste they never borrowed here (bought, read long ago),
  drawn as their loans are, on days of their membership;
- ``not_interested``: popular books outside their subjects, as a reader dismisses what a list
  shows them, on days of their membership.

The draws use their own random stream, so feedback never changes the loans or the views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.sample.catalog import BookSampler, Catalog
from recsys.sample.config import SampleConfig
from recsys.sample.events import (
    BROWSING_HOURS,
    DAY,
    EVENT_LOAN,
    LoanEvents,
    epoch,
    seconds_of_day,
)
from recsys.sample.readers import Readers, draw_subjects

KIND_NOT_INTERESTED, KIND_ALREADY_READ, KIND_LIKED = 0, 1, 2
#: Share of a giver's loans in their own subjects that they mark as liked.
LIKED_SHARE = 0.25
#: Books read elsewhere, and books dismissed, per loan of a giver (Poisson means).
ALREADY_READ_PER_LOAN = 0.3
NOT_INTERESTED_PER_LOAN = 0.2
#: Dismissed books come from this many most wanted books outside the reader's subjects.
DISMISSED_POOL = 200


@dataclass(frozen=True)
class FeedbackEvents:
    reader: np.ndarray  # int32
    book: np.ndarray  # int32
    kind: np.ndarray  # int8 KIND_*
    time: np.ndarray  # int64 Unix seconds, sorted


def generate_feedback(
    config: SampleConfig,
    catalog: Catalog,
    readers: Readers,
    sampler: BookSampler,
    loans: LoanEvents,
    rng: np.random.Generator,
) -> FeedbackEvents:
    """The feedback of `config.feedback_share` of the readers (see the module docstring)."""
    lent = loans.event == EVENT_LOAN
    per_reader = np.bincount(loans.reader[lent], minlength=len(readers))
    weight = np.sqrt(per_reader) * (per_reader > 0)
    n_givers = min(round(config.feedback_share * len(readers)), int((weight > 0).sum()))
    if n_givers == 0:
        return _events([], [], [], [])
    givers = np.zeros(len(readers), dtype=bool)
    givers[rng.choice(len(readers), n_givers, replace=False, p=weight / weight.sum())] = True
    own = _own_subjects(readers, catalog)

    loan_reader, loan_book = loans.reader[lent], loans.book[lent]
    in_taste = own[loan_reader, catalog.subject[loan_book]]
    liked = np.flatnonzero(
        givers[loan_reader] & in_taste & (rng.random(len(loan_reader)) < LIKED_SHARE)
    )
    end = epoch(config) + config.days * DAY - 1
    liked_time = np.minimum(
        loans.time[lent][liked] + rng.integers(3 * DAY, 30 * DAY, len(liked)), end
    )

    giver_ids = np.flatnonzero(givers)
    counts = rng.poisson(ALREADY_READ_PER_LOAN * per_reader[giver_ids])
    read_reader = np.repeat(giver_ids, counts).astype(np.int32)
    read_day = _membership_days(readers, read_reader, config, rng)
    subjects = draw_subjects(readers, read_reader, read_day, config.explore_share, rng)
    read_book = sampler.draw(readers.home[read_reader], subjects, rng, long_tail=True)
    pair = loans.reader.astype(np.int64) * catalog.n_books + loans.book
    fresh = ~np.isin(read_reader.astype(np.int64) * catalog.n_books + read_book, pair)
    read_reader, read_book, read_day = read_reader[fresh], read_book[fresh], read_day[fresh]

    counts = rng.poisson(NOT_INTERESTED_PER_LOAN * per_reader[giver_ids])
    dismiss_reader = np.repeat(giver_ids, counts).astype(np.int32)
    dismiss_book = _dismissed_books(catalog, own, dismiss_reader, rng)
    kept = dismiss_book >= 0
    dismiss_reader, dismiss_book = dismiss_reader[kept], dismiss_book[kept]
    dismiss_day = _membership_days(readers, dismiss_reader, config, rng)

    def at(day: np.ndarray) -> np.ndarray:
        return (
            epoch(config)
            + day.astype(np.int64) * DAY
            + seconds_of_day(BROWSING_HOURS, len(day), rng)
        )

    return _events(
        [loan_reader[liked], read_reader, dismiss_reader],
        [loan_book[liked], read_book, dismiss_book],
        [KIND_LIKED, KIND_ALREADY_READ, KIND_NOT_INTERESTED],
        [liked_time, at(read_day), at(dismiss_day)],
    )


def _own_subjects(readers: Readers, catalog: Catalog) -> np.ndarray:
    """Readers x subjects: whether the subject is in the reader's taste, before or after drift."""
    n_subjects = len(catalog.subject_demand)
    own = np.zeros((len(readers), n_subjects), dtype=bool)
    weighted = (readers.w0 > 0) | (readers.w1 > 0)
    rows = np.repeat(np.arange(len(readers)), weighted.sum(axis=1))
    own[rows, readers.taste[weighted]] = True
    return own


def _membership_days(
    readers: Readers, reader: np.ndarray, config: SampleConfig, rng: np.random.Generator
) -> np.ndarray:
    first, last = readers.first_day[reader], readers.last_day[reader]
    day = first + (rng.random(len(reader)) * (last - first + 1)).astype(np.int64)
    return np.clip(day, 0, config.days - 1)


def _dismissed_books(
    catalog: Catalog, own: np.ndarray, reader: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each reader, one of the most wanted books outside their subjects (-1: none left)."""
    pool = np.argsort(-catalog.demand, kind="stable")[:DISMISSED_POOL]
    weight = catalog.demand[pool]
    outside = ~own[reader][:, catalog.subject[pool]]  # readers x pool
    weights = outside * weight[None, :]
    totals = weights.sum(axis=1)
    cumulative = np.cumsum(weights, axis=1)
    pick = (cumulative < (rng.random(len(reader)) * totals)[:, None]).sum(axis=1)
    return np.where(totals > 0, pool[np.minimum(pick, len(pool) - 1)], -1)


def _events(
    readers: list[np.ndarray], books: list[np.ndarray], kinds: list[int], times: list[np.ndarray]
) -> FeedbackEvents:
    time = np.concatenate([np.empty(0, np.int64), *times]).astype(np.int64)
    reader = np.concatenate([np.empty(0, np.int32), *readers]).astype(np.int32)
    book = np.concatenate([np.empty(0, np.int32), *books]).astype(np.int32)
    kind = np.repeat(np.asarray(kinds, dtype=np.int8), [len(r) for r in readers])
    order = np.argsort(time, kind="stable")
    # a reader says each kind once per book: the first time
    key = (reader[order].astype(np.int64) * (int(book.max(initial=0)) + 1) + book[order]) * 3
    _, first = np.unique(key + kind[order], return_index=True)
    order = order[np.sort(first)]
    return FeedbackEvents(reader[order], book[order], kind[order], time[order])
