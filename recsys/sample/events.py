"""Loans (with renewals and holds) and browse sessions, drawn for all events at once with numpy.

Times are Unix seconds (int64) until the frames are built. Days follow a calendar: fewer loans on
Sundays and around Christmas, a summer peak; hours follow opening hours (loans) or evenings (views).
Branches keep weekly hours like real libraries: the central library closes on Sundays, the other
branches on Sundays and Mondays. A loan of a physical copy drawn on a day its branch is closed
happens on the branch's next open day (the last open one at the end of the window). E-book loans,
renewals and holds are made online, Sundays included; on public holidays nothing is lent at all
(online events move to the next day, holds to the day before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from recsys.sample.catalog import CENTRAL, EBOOK, BookSampler, Catalog
from recsys.sample.config import SampleConfig
from recsys.sample.readers import Readers, draw_subjects

DAY = 86_400
EVENT_LOAN, EVENT_RENEWAL, EVENT_HOLD = 0, 1, 2
LOAN_DAYS = 28
RESAMPLE_ROUNDS = 8
LONG_TAIL_ROUNDS = 4
OPENING_HOURS = np.array([0] * 9 + [4, 6, 7, 7, 8, 8, 9, 10, 10, 8, 5] + [0] * 4, dtype=float)
BROWSING_HOURS = np.array(
    [1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 5, 4, 4, 4, 5, 6, 7, 8, 9, 8, 5, 2], dtype=float
)
MONDAY, SUNDAY = 0, 6
#: Weekdays each branch is closed: the central library on Sundays, the others on Mondays too.
CENTRAL_CLOSED = (SUNDAY,)
BRANCH_CLOSED = (MONDAY, SUNDAY)
#: Public holidays (month, day) on which every branch and the online services are closed.
HOLIDAYS = ((1, 1), (5, 1), (12, 24), (12, 25), (12, 26))
ONLINE = -1  # the online services' row in `_open_days`, after the branches'


@dataclass(frozen=True)
class LoanEvents:
    reader: np.ndarray  # int32
    book: np.ndarray  # int32
    time: np.ndarray  # int64 Unix seconds, sorted
    event: np.ndarray  # int8 EVENT_*
    library: np.ndarray  # int8 branch (int16 member of a consortium)
    copy: np.ndarray  # int64 copy serial, -1 = none (holds, ebooks)


@dataclass(frozen=True)
class ViewEvents:
    session: np.ndarray  # uint64 session number
    book: np.ndarray  # int32
    time: np.ndarray  # int64 Unix seconds, sorted
    reader: np.ndarray  # int32, -1 = anonymous


def generate_loans(
    config: SampleConfig,
    catalog: Catalog,
    readers: Readers,
    sampler: BookSampler,
    rng: np.random.Generator,
) -> LoanEvents:
    """`config.n_loans` loans plus the renewals and holds that go with them."""
    reader, day = loan_readers_and_days(config, readers, rng)
    book = draw_books(config, catalog, readers, sampler, reader, day, rng)
    day = np.maximum(day, catalog.release_day[book])  # still too new after resampling: wait
    time = epoch(config) + day.astype(np.int64) * DAY + seconds_of_day(OPENING_HOURS, len(day), rng)

    away = rng.random(len(reader)) < config.away_share
    library = np.where(
        away,
        rng.choice(config.branches, p=catalog.branch_share, size=len(reader)),
        readers.home[reader],
    ).astype(np.int8)
    library[catalog.copies[library, book] == 0] = CENTRAL
    copy = catalog.copy_base[library, book] + (
        rng.random(len(book)) * catalog.copies[library, book]
    ).astype(np.int64)
    copy[catalog.format[book] == EBOOK] = -1
    is_open = _open_days(config)
    time = lent_on_open_days(is_open, library, copy, day, time)
    hold_share = hold_probability(config, catalog.demand)[book]
    return with_renewals_and_holds(
        config, is_open, hold_share, reader, book, time, library, copy, rng
    )


def loan_readers_and_days(
    config: SampleConfig, readers: Readers, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The reader of each of `config.n_loans` loans (the active ones more often) and its day."""
    span = (readers.last_day - readers.first_day + 1).astype(np.float64)
    rate = readers.activity * span
    counts = rng.multinomial(config.n_loans, rate / rate.sum())
    reader = np.repeat(np.arange(len(readers), dtype=np.int32), counts)
    return reader, _draw_days(config, readers, reader, _loan_day_weights(config), rng)


def lent_on_open_days(
    is_open: np.ndarray, desk: np.ndarray, copy: np.ndarray, day: np.ndarray, time: np.ndarray
) -> np.ndarray:
    """`time` moved to the next open day of the loan's desk (`is_open`'s row); e-books (no
    `copy`) are lent online."""
    desk = np.where(copy >= 0, desk, ONLINE)
    return time + (_next_open_day(is_open)[desk, day] - day).astype(np.int64) * DAY


def with_renewals_and_holds(
    config: SampleConfig,
    is_open: np.ndarray,
    hold_share: np.ndarray,
    reader: np.ndarray,
    book: np.ndarray,
    time: np.ndarray,
    library: np.ndarray,
    copy: np.ndarray,
    rng: np.random.Generator,
) -> LoanEvents:
    """The loans with their renewals (online, after the loan) and holds (online, before it;
    a loan gets one with probability `hold_share`), sorted by time."""
    renew = np.flatnonzero(rng.random(len(reader)) < config.renewal_share)
    renew_time = time[renew] + rng.integers(14 * DAY, LOAN_DAYS * DAY, len(renew))
    again = rng.random(len(renew)) < 0.25  # some renew twice
    renew = np.concatenate([renew, renew[again]])
    renew_time = np.concatenate(
        [renew_time, renew_time[again] + rng.integers(14 * DAY, LOAN_DAYS * DAY, int(again.sum()))]
    )
    kept = renew_time < epoch(config) + config.days * DAY
    renew, renew_time = renew[kept], _online(config, is_open, renew_time[kept], _next_open_day)

    hold = np.flatnonzero(rng.random(len(reader)) < hold_share)
    hold_time = time[hold] - rng.integers(DAY, 45 * DAY, len(hold))
    kept = hold_time >= epoch(config)
    hold_time = _online(config, is_open, hold_time[kept], _previous_open_day)
    hold = hold[kept][hold_time >= epoch(config)]  # none open before it: before the window
    hold_time = hold_time[hold_time >= epoch(config)]

    source = np.concatenate([np.arange(len(reader)), renew, hold])
    times = np.concatenate([time, renew_time, hold_time])
    event = np.concatenate(
        [
            np.full(len(reader), EVENT_LOAN, np.int8),
            np.full(len(renew), EVENT_RENEWAL, np.int8),
            np.full(len(hold), EVENT_HOLD, np.int8),
        ]
    )
    copies = copy[source]
    copies[event == EVENT_HOLD] = -1
    order = np.argsort(times, kind="stable")
    return LoanEvents(
        reader=reader[source][order],
        book=book[source][order],
        time=times[order],
        event=event[order],
        library=library[source][order],
        copy=copies[order],
    )


def generate_views(
    config: SampleConfig,
    catalog: Catalog,
    readers: Readers,
    sampler: BookSampler,
    rng: np.random.Generator,
    *,
    shelves: np.ndarray | None = None,
) -> ViewEvents:
    """Browse sessions of catalog pages; a minority are logged in and carry the reader id.

    Books come from `sampler`'s block of each reader's `shelves` (default: their home branch).
    """
    span = (readers.last_day - readers.first_day + 1).astype(np.float64)
    rate = readers.activity**0.7 * span
    session_reader = rng.choice(len(readers), p=rate / rate.sum(), size=config.sessions)
    day = _draw_days(config, readers, session_reader, _view_day_weights(config), rng)
    start = (
        epoch(config)
        + day.astype(np.int64) * DAY
        + seconds_of_day(BROWSING_HOURS, config.sessions, rng)
    )
    logged_in = rng.random(config.sessions) < config.logged_in_share
    length = np.minimum(rng.geometric(0.3, config.sessions), 40)

    session = np.repeat(np.arange(config.sessions), length)
    reader = session_reader[session].astype(np.int32)
    view_day = day[session]
    book = draw_books(config, catalog, readers, sampler, reader, view_day, rng, shelves=shelves)
    gaps = rng.exponential(50.0, len(session)).astype(np.int64) + 5
    first = np.cumsum(length) - length
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first], length)
    time = start[session] + offset
    end = epoch(config) + config.days * DAY - 1
    time = np.minimum(time, end)
    order = np.argsort(time, kind="stable")
    return ViewEvents(
        session=_session_numbers(session[order]),
        book=book[order],
        time=time[order],
        reader=np.where(logged_in[session], reader, -1)[order].astype(np.int32),
    )


def active_loans(config: SampleConfig, catalog: Catalog, loans: LoanEvents) -> np.ndarray:
    """Copies out on loan at the end of the window, per (branch, book)."""
    out = out_on_loan(config, loans)
    pair = loans.library[out].astype(np.int64) * catalog.n_books + loans.book[out]
    counts = np.bincount(pair, minlength=catalog.copies.size)
    return counts.reshape(catalog.copies.shape)


def out_on_loan(config: SampleConfig, loans: LoanEvents) -> np.ndarray:
    """Which events keep a copy out at the end of the window: loans and renewals of the last
    `LOAN_DAYS` days."""
    cutoff = epoch(config) + (config.days - LOAN_DAYS) * DAY
    return (loans.time >= cutoff) & (loans.event != EVENT_HOLD) & (loans.copy >= 0)


def draw_books(
    config: SampleConfig,
    catalog: Catalog,
    readers: Readers,
    sampler: BookSampler,
    reader: np.ndarray,
    day: np.ndarray,
    rng: np.random.Generator,
    *,
    shelves: np.ndarray | None = None,
    refuse: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Books from each reader's taste at that day; retry books not yet published, and repeats of
    the same reader and book (real readers seldom borrow a book twice).

    Each reader draws from `sampler`'s block of their `shelves` entry (default: their home
    branch). `refuse(positions, books)` may turn down fresh draws (True: draw again).
    """
    shelf = (readers.home if shelves is None else shelves)[reader]
    book = sampler.draw(shelf, draw_subjects(readers, reader, day, config.explore_share, rng), rng)
    drawn = np.arange(len(book))
    for round_ in range(RESAMPLE_ROUNDS):
        todo = _needs_redraw(catalog, reader, book, day, drawn)
        if refuse is not None:
            redraw = np.zeros(len(book), dtype=bool)
            redraw[todo] = True
            redraw[drawn[refuse(drawn, book[drawn])]] = True
            todo = np.flatnonzero(redraw)
        if not len(todo):
            break
        # Look further down the reader's subjects first; explore other subjects only later.
        explore = config.explore_share * (1 + max(0, round_ - LONG_TAIL_ROUNDS))
        subject = draw_subjects(readers, reader[todo], day[todo], min(1.0, explore), rng)
        book[todo] = sampler.draw(shelf[todo], subject, rng, long_tail=round_ > 0)
        drawn = todo
    return book


def _needs_redraw(
    catalog: Catalog, reader: np.ndarray, book: np.ndarray, day: np.ndarray, todo: np.ndarray
) -> np.ndarray:
    """Positions (among the readers of `todo`) holding a repeat or a book not yet published."""
    touched = np.flatnonzero(np.isin(reader, np.unique(reader[todo])))
    pair = reader[touched].astype(np.int64) * catalog.n_books + book[touched]
    order = np.argsort(pair, kind="stable")
    repeated = np.zeros(len(pair), dtype=bool)
    repeated[order[1:]] = pair[order[1:]] == pair[order[:-1]]
    unreleased = day[touched] < catalog.release_day[book[touched]]
    return touched[repeated | unreleased]


def hold_probability(config: SampleConfig, demand: np.ndarray) -> np.ndarray:
    """Holds queue for wanted books: probability grows steeply with popularity."""
    pct = np.empty(len(demand))
    pct[np.argsort(demand, kind="stable")] = np.linspace(0.0, 1.0, len(demand))
    return config.max_hold_share * pct**3


def _draw_days(
    config: SampleConfig,
    readers: Readers,
    reader: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A day within each reader's membership, following the calendar weights (inverse CDF)."""
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    low = cum[readers.first_day[reader]]
    high = cum[readers.last_day[reader] + 1]
    u = low + rng.random(len(reader)) * (high - low)
    return np.clip(np.searchsorted(cum, u, side="right") - 1, 0, config.days - 1).astype(np.int32)


def branch_open(config: SampleConfig) -> np.ndarray:
    """Whether each branch (rows) is open on each day of the window (columns)."""
    return _open_days(config)[: config.branches]


def _open_days(config: SampleConfig) -> np.ndarray:
    """`branch_open`, plus a last row for the online services (closed on public holidays)."""
    closed = [CENTRAL_CLOSED if b == CENTRAL else BRANCH_CLOSED for b in range(config.branches)]
    return open_days(config, closed)


def open_days(config: SampleConfig, closed: Sequence[tuple[int, ...]]) -> np.ndarray:
    """Whether each library (rows; `closed` names the weekdays each closes) is open on each day,
    plus a last row for the online services (closed on public holidays)."""
    weekday, holiday = _calendar(config)
    return np.array([*(~np.isin(weekday, days) & ~holiday for days in closed), ~holiday])


def _calendar(config: SampleConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each day's weekday (0 = Monday) and whether it is a public holiday."""
    dates = np.datetime64(config.start) + np.arange(config.days)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    month_day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    holiday = np.zeros(config.days, dtype=bool)
    for holiday_month, holiday_day in HOLIDAYS:
        holiday |= (month == holiday_month) & (month_day == holiday_day)
    return (dates.astype(np.int64) + 3) % 7, holiday


def _next_open_day(is_open: np.ndarray) -> np.ndarray:
    """Per row and day, the first open day from that day on; at the end of the window, the last
    open day before it."""
    days = np.arange(is_open.shape[1])
    later = np.where(is_open, days, len(days))
    following = np.minimum.accumulate(later[:, ::-1], axis=1)[:, ::-1]
    return np.where(following < len(days), following, _previous_open_day(is_open))


def _previous_open_day(is_open: np.ndarray) -> np.ndarray:
    """Per row and day, the last open day up to that day (-1: none)."""
    days = np.arange(is_open.shape[1])
    return np.maximum.accumulate(np.where(is_open, days, -1), axis=1)


def _online(
    config: SampleConfig,
    is_open: np.ndarray,
    times: np.ndarray,
    open_day: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """`times` (inside the window) moved by whole days to the online services' `open_day`."""
    day = (times - epoch(config)) // DAY
    return times + (open_day(is_open)[ONLINE, day] - day) * DAY


def _loan_day_weights(config: SampleConfig) -> np.ndarray:
    """Fewer readers come on Saturdays and want to on Sundays; a summer peak; hardly anyone on
    holidays (loans drawn for a closed day happen on the next open one)."""
    weekday, holiday = _calendar(config)
    weights = np.where(weekday == SUNDAY, 0.35, np.where(weekday == 5, 0.8, 1.0))
    dates = np.datetime64(config.start) + np.arange(config.days)
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    weights = weights * (1.0 + 0.15 * np.cos(2 * np.pi * (day_of_year - 200) / 365.25))
    return np.where(holiday, 0.05, weights)


def _view_day_weights(config: SampleConfig) -> np.ndarray:
    weekday = (np.datetime64(config.start).astype(np.int64) + np.arange(config.days) + 3) % 7
    return np.where(weekday >= 5, 0.8, 1.0)


def seconds_of_day(hour_weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    hour = rng.choice(24, p=hour_weights / hour_weights.sum(), size=n).astype(np.int64)
    return hour * 3600 + rng.integers(0, 3600, n)


def _session_numbers(session: np.ndarray) -> np.ndarray:
    """Opaque, unique 64-bit session numbers (a bijection of the session index)."""
    x = (session.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(31)
    return x * np.uint64(0x94D049BB133111EB)


def epoch(config: SampleConfig) -> int:
    return int(
        datetime(config.start.year, config.start.month, config.start.day, tzinfo=UTC).timestamp()
    )
