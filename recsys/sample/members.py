"""A consortium: member libraries, each with its own records of the works it holds.

Members are ranked by size: their shares of the readers fall as 1 / rank (a few large city and
university libraries, many small ones), and each one's collection share is `MIN_COLLECTION` plus
`LARGEST_COLLECTION` times its share relative to the largest. The union catalog's editions
(`recsys.sample.catalog` with one library) are held by the members: a member holds an edition with
probability ``exp(-(1 - pct) / collection)``, `pct` the edition's popularity percentile, so every
member holds the most wanted titles and the long tail is held by few, mostly the large members; an
edition nobody drew belongs to the largest member. Each holding is a record of its own (its own
`book_id`, ``member-017-B000123``) with the edition's title, author and ISBN (a few records lack
the ISBN), and no `work_id`: the works grouping (`recsys.data.works`) puts a work's records, across
members (shared ISBN) and editions (title and author), in one work.

Readers belong to a member and borrow there; `SampleConfig.away_share` of loans are made at another
member, chosen by size. A reader draws titles from the whole union catalog as a branch's reader
does, and turns down a title the lending member does not hold unless a draw keeps it
(`ILL_WEIGHT`); a title kept, or still not held there after the redraws, is an interlibrary loan:
another member's record, lent (`library_id`) by the member where the reader borrows. The largest
tenth of the members close on Sundays, the others on Mondays too (`recsys.sample.events`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.sample.catalog import EBOOK, BookSampler, Catalog
from recsys.sample.config import SampleConfig
from recsys.sample.events import (
    BRANCH_CLOSED,
    CENTRAL_CLOSED,
    DAY,
    OPENING_HOURS,
    LoanEvents,
    ViewEvents,
    draw_books,
    epoch,
    generate_views,
    hold_probability,
    lent_on_open_days,
    loan_readers_and_days,
    open_days,
    out_on_loan,
    seconds_of_day,
    with_renewals_and_holds,
)
from recsys.sample.readers import Readers

MIN_COLLECTION = 0.03
LARGEST_COLLECTION = 0.6
#: Chance that a reader keeps a drawn title the lending member does not hold (an interlibrary
#: loan); a branch's readers keep one not on its shelves more often (`catalog.AWAY_WEIGHT`).
ILL_WEIGHT = 0.05
#: Share of records catalogued without an ISBN (grouped with their work by title and author).
MISSING_ISBN = 0.05
#: The largest tenth of the members open on Mondays too (as a central library does).
LARGE_MEMBERS = 0.1


@dataclass(frozen=True)
class Members:
    """Member libraries and their records, as parallel arrays.

    Records are ordered by member, then edition; `holders[holder_start[e]:holder_start[e + 1]]`
    are the records of edition `e`.
    """

    names: np.ndarray  # object, "member-001"...
    share: np.ndarray  # float64 per member, share of the readers
    record_member: np.ndarray  # int16 per record
    record_edition: np.ndarray  # int32 per record
    copies: np.ndarray  # int32 per record
    copy_base: np.ndarray  # int64 per record, serial of the first copy
    holders: np.ndarray  # int64, records ordered by edition
    holder_start: np.ndarray  # int64 per edition, and the end
    record_key: np.ndarray  # int64 per record, member x (editions + 1) + edition, ascending

    @property
    def n_records(self) -> int:
        return len(self.record_member)

    def record_of(self, member: np.ndarray, edition: np.ndarray) -> np.ndarray:
        """Each member's record of the edition, or -1 where the member does not hold it."""
        wanted = member.astype(np.int64) * len(self.holder_start) + edition
        position = np.minimum(np.searchsorted(self.record_key, wanted), self.n_records - 1)
        return np.where(self.record_key[position] == wanted, position, -1)

    def lent_record(self, member: np.ndarray, edition: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The member's own record of the edition, else one of the holders' (chosen by `u` in
        [0, 1))."""
        first = self.holder_start[edition]
        count = self.holder_start[edition + 1] - first
        anyone = self.holders[first + (u * count).astype(np.int64)]
        own = self.record_of(member, edition)
        return np.where(own >= 0, own, anyone)


def build_members(config: SampleConfig, catalog: Catalog, rng: np.random.Generator) -> Members:
    """The members, their shares of readers, and their records of the union catalog."""
    n_members = int(config.n_members or 0)
    share = 1.0 / np.arange(1, n_members + 1)
    share /= share.sum()
    collection = MIN_COLLECTION + LARGEST_COLLECTION * share / share[0]
    n_editions = catalog.n_books
    pct = np.empty(n_editions)
    pct[np.argsort(catalog.demand, kind="stable")] = np.arange(n_editions) / max(1, n_editions - 1)
    held = [
        np.flatnonzero(rng.random(n_editions) < np.exp(-(1.0 - pct) / collection[member]))
        for member in range(n_members)
    ]
    holder_count = np.bincount(np.concatenate(held), minlength=n_editions)
    held[0] = np.union1d(held[0], np.flatnonzero(holder_count == 0))
    record_member = np.repeat(
        np.arange(n_members, dtype=np.int16), [len(editions) for editions in held]
    )
    record_edition = np.concatenate(held).astype(np.int32)
    copies = (1 + rng.poisson(3.0 * pct[record_edition] ** 8)).astype(np.int32)
    holders = np.argsort(record_edition, kind="stable").astype(np.int64)
    holder_start = np.searchsorted(record_edition[holders], np.arange(n_editions + 1))
    return Members(
        names=np.array([f"member-{m + 1:03d}" for m in range(n_members)], dtype=object),
        share=share,
        record_member=record_member,
        record_edition=record_edition,
        copies=copies,
        copy_base=(np.cumsum(copies, dtype=np.int64) - copies).astype(np.int64),
        holders=holders,
        holder_start=holder_start.astype(np.int64),
        record_key=record_member.astype(np.int64) * (n_editions + 1) + record_edition,
    )


def generate_member_loans(
    config: SampleConfig,
    catalog: Catalog,
    members: Members,
    readers: Readers,
    sampler: BookSampler,
    rng: np.random.Generator,
) -> LoanEvents:
    """`config.n_loans` loans of members' records (`LoanEvents.book` is a record) plus their
    renewals and holds; `LoanEvents.library` is the member that lent it."""
    reader, day = loan_readers_and_days(config, readers, rng)
    away = rng.random(len(reader)) < config.away_share
    lender = np.where(
        away,
        rng.choice(len(members.share), p=members.share, size=len(reader)),
        readers.home[reader],
    ).astype(np.int16)

    def not_held(positions: np.ndarray, editions: np.ndarray) -> np.ndarray:
        missing = members.record_of(lender[positions], editions) < 0
        return missing & (rng.random(len(positions)) >= ILL_WEIGHT)

    shelves = np.zeros(len(readers), dtype=np.int16)  # one union catalog
    edition = draw_books(
        config, catalog, readers, sampler, reader, day, rng, shelves=shelves, refuse=not_held
    )
    day = np.maximum(day, catalog.release_day[edition])
    time = epoch(config) + day.astype(np.int64) * DAY + seconds_of_day(OPENING_HOURS, len(day), rng)
    record = members.lent_record(lender, edition, rng.random(len(edition)))
    copy = members.copy_base[record] + (rng.random(len(record)) * members.copies[record]).astype(
        np.int64
    )
    copy[catalog.format[edition] == EBOOK] = -1
    is_open = member_open_days(config, len(members.share))
    time = lent_on_open_days(is_open, lender, copy, day, time)
    hold_share = hold_probability(config, catalog.demand)[edition]
    return with_renewals_and_holds(
        config, is_open, hold_share, reader, record, time, lender, copy, rng
    )


def generate_member_views(
    config: SampleConfig,
    catalog: Catalog,
    members: Members,
    readers: Readers,
    sampler: BookSampler,
    rng: np.random.Generator,
) -> ViewEvents:
    """Browse sessions (`recsys.sample.events.generate_views`) of members' record pages: a
    logged-in reader sees their member's record where it holds one, anyone else a holder's."""
    views = generate_views(
        config, catalog, readers, sampler, rng, shelves=np.zeros(len(readers), dtype=np.int16)
    )
    member = np.where(views.reader >= 0, readers.home[np.maximum(views.reader, 0)], -1)
    record = members.lent_record(member, views.book, rng.random(len(views.book)))
    return ViewEvents(
        session=views.session, book=record.astype(np.int32), time=views.time, reader=views.reader
    )


def member_open_days(config: SampleConfig, n_members: int) -> np.ndarray:
    """Members' opening days (`recsys.sample.events.open_days`): the largest ones close on
    Sundays, the others on Mondays too."""
    large = max(1, round(n_members * LARGE_MEMBERS))
    closed = [CENTRAL_CLOSED if m < large else BRANCH_CLOSED for m in range(n_members)]
    return open_days(config, closed)


def records_out(config: SampleConfig, members: Members, loans: LoanEvents) -> np.ndarray:
    """Copies of each record out on loan at the end of the window."""
    out = out_on_loan(config, loans)
    return np.bincount(loans.book[out], minlength=members.n_records)
