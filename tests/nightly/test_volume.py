"""The volume check holds the newest day against the same time of the week in earlier weeks."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.db.tables import loans
from recsys.nightly.validate import validate_store
from recsys.nightly.volume import DAY, PERIODS, WEEK, check_volume
from recsys.sample import SampleConfig, generate_library

#: Loans per day of the week: closed (0) or open with at least 20 loans, open two days or more
#: (the current level is measured on the other open days of the newest week).
WEEKLY = st.lists(st.one_of(st.just(0), st.integers(20, 400)), min_size=WEEK, max_size=WEEK).filter(
    lambda week: sum(n > 0 for n in week) >= 2
)


@given(
    weekly=WEEKLY,
    phase=st.integers(0, WEEK - 1),
    level=st.floats(0.05, 1.0),
    noise=st.lists(st.floats(0.9, 1.1), min_size=PERIODS, max_size=PERIODS),
)
def test_a_library_keeping_its_weekly_hours_never_fails(
    weekly: list[int], phase: int, level: float, noise: list[float]
) -> None:
    """Any weekly pattern (closed days, short Saturdays), day-to-day noise of 10%, and a whole
    newest week quieter than before (a term ending, a holiday season)."""
    periods = [
        round(weekly[(phase - k) % WEEK] * (level if k < WEEK else 1.0) * noise[k])
        for k in range(PERIODS)
    ]
    assert not check_volume(periods, max_drop=0.5).failed


@given(
    weekly=st.lists(st.integers(0, 400), min_size=WEEK, max_size=WEEK),
    phase=st.integers(0, WEEK - 1),
    usual=st.integers(1, 2_000),
    share=st.floats(0.0, 1.0),
    max_drop=st.floats(0.05, 0.95),
)
def test_the_newest_day_fails_exactly_below_the_expected_drop_or_noise(
    weekly: list[int], phase: int, usual: int, share: float, max_drop: float
) -> None:
    weekly[phase] = usual
    periods = [weekly[(phase - k) % WEEK] for k in range(PERIODS)]
    periods[0] = newest = math.floor(usual * share)
    check = check_volume(periods, max_drop=max_drop)
    assert check.same_time_median == usual and check.expected == usual
    floor = min((1 - max_drop) * usual, usual - 3 * math.sqrt(usual))
    assert check.failed == (newest < floor)


def test_a_time_of_the_week_without_loans_in_earlier_weeks_is_not_checked() -> None:
    periods = [5] + [0, 40, 40, 40, 40, 40, 0] * 4 + [40] * 6
    check = check_volume(periods, max_drop=0.5)
    assert (check.same_time_median, check.failed) == (None, False)
    assert not check_volume([3, 50, 50], max_drop=0.5).failed  # too short a history


def _store(tmp_path: Path, frame: pd.DataFrame) -> Engine:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", pseudonym_key="v" * 40)
    engine = make_engine(settings)
    upgrade(engine)
    rows = [
        {"reader_id": str(r), "book_id": str(b), "borrowed_at": int(t.timestamp()), "event": e}
        for r, b, t, e in frame[["reader_id", "book_id", "borrowed_at", "event"]].itertuples(
            index=False
        )
    ]
    with engine.begin() as connection:
        connection.execute(insert(loans), rows)
    return engine


def _volume_problems(engine: Engine, night: int) -> list[str]:
    settings = Settings(_env_file=None, retention_days=36_500, min_loans=1, max_volume_drop=0.5)
    report = validate_store(engine, settings, now=night)
    return [p for p in report.problems if p.startswith("the newest 24 hours")]


def test_a_generated_library_with_closed_days_passes_every_night_and_a_lossy_export_fails(
    tmp_path: Path,
) -> None:
    """Eight weeks of nights of the sample library (branches closed on Sundays and Mondays),
    each checked on the loans exported until that night."""
    config = SampleConfig(n_loans=30_000, seed=3, end=date(2026, 7, 31))
    engine = _store(tmp_path, generate_library(config).loans)
    end = int(pd.Timestamp(config.end, tz="UTC").timestamp()) + DAY
    nights = [end - n * DAY for n in range(8 * WEEK)]
    failed = []
    for night in nights:  # newest first: each night's later loans are deleted before it
        with engine.begin() as connection:
            connection.execute(delete(loans).where(loans.c.borrowed_at >= night))
        if _volume_problems(engine, night):
            failed.append(pd.Timestamp(night - DAY, unit="s").date())
    assert failed == []

    # The night after an earlier Wednesday, whose export lost three loans in four.
    night = next(
        n for n in range(nights[-1], 0, -DAY) if pd.Timestamp(n - DAY, unit="s").day_of_week == 2
    )
    with engine.begin() as connection:
        connection.execute(delete(loans).where(loans.c.borrowed_at >= night))
        wednesday = (
            connection.execute(select(loans.c.loan_id).where(loans.c.borrowed_at >= night - DAY))
            .scalars()
            .all()
        )
        kept = set(wednesday[::4])
        connection.execute(delete(loans).where(loans.c.loan_id.in_(set(wednesday) - kept)))
    assert len(wednesday) > 40
    (problem,) = _volume_problems(engine, night)
    assert "suggests an incomplete export" in problem
    engine.dispose()
