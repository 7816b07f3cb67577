"""`SampleConfig`: the size and shape of a generated library, derived from the number of loans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from recsys.exceptions import ConfigurationError
from recsys.sample.vocab import BRANCHES, SUBJECTS

MIN_LOANS = 50
MAX_BOOKS = 250_000
MAX_READERS = 9_999_999  # reader ids are "P" + 7 digits
MAX_MEMBERS = 999  # member ids are "member-" + 3 digits
#: `consortium_members`: a member per this many loans, within [2, 400].
LOANS_PER_MEMBER = 50_000
DERIVED_MEMBERS = (2, 400)


@dataclass(frozen=True)
class SampleConfig:
    """Parameters of a sample library; sizes left as None are derived from `n_loans`.

    `n_loans` counts `loan` events; renewals and holds come on top (about +24% and +18% at
    1M loans). Derived sizes: readers ~ loans / 15, books (editions) ~ loans / 40 within
    [80, 250,000], subjects ~ books / 50 within [8, 40], 5-8 branches, view sessions ~ loans / 4
    (~3.3 page views each), `days` days ending with `end` (inclusive).

    The shares: `logged_in_share` of sessions carry a reader id; `renewal_share` of loans are
    renewed; the most wanted books get a hold before up to `max_hold_share` of their loans;
    `explore_share` of choices leave the reader's taste; `drift_share` of readers change taste
    during the window; `away_share` of loans happen at another branch than the reader's own;
    `feedback_share` of the readers give feedback on books (`recsys.sample.feedback`; none by
    default, which keeps the files of a config as they were).

    `n_members` makes a consortium (`recsys.sample.members`) instead of one library system of
    branches: that many member libraries, each with its own records of the works it holds;
    `n_books` then counts the editions of the union catalog, `n_branches` is unused, and
    `away_share` of loans happen at another member than the reader's own. None (the default)
    makes the branches' library. `consortium_members` derives a size from the loans.
    """

    n_loans: int
    seed: int = 42
    n_readers: int | None = None
    n_books: int | None = None
    n_branches: int | None = None
    n_subjects: int | None = None
    n_sessions: int | None = None
    end: date = date(2026, 11, 20)
    days: int = 730
    logged_in_share: float = 0.3
    renewal_share: float = 0.2
    max_hold_share: float = 0.3
    explore_share: float = 0.1
    drift_share: float = 0.6
    away_share: float = 0.15
    feedback_share: float = 0.0
    n_members: int | None = None

    def __post_init__(self) -> None:
        if self.n_loans < MIN_LOANS:
            raise ConfigurationError(f"n_loans must be at least {MIN_LOANS}; got {self.n_loans}")
        if self.days < 30:
            raise ConfigurationError(f"days must be at least 30; got {self.days}")
        for name in (
            "logged_in_share",
            "renewal_share",
            "max_hold_share",
            "explore_share",
            "drift_share",
            "away_share",
            "feedback_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"{name} must be between 0 and 1; got {value}")
        derived = {
            "n_readers": min(MAX_READERS, max(20, round(self.n_loans / 15))),
            "n_books": min(MAX_BOOKS, max(80, round(self.n_loans / 40))),
            "n_branches": 5 if self.n_loans < 200_000 else 6 if self.n_loans < 2_000_000 else 8,
            "n_sessions": max(10, self.n_loans // 4),
        }
        for name, value in derived.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.n_subjects is None:
            object.__setattr__(self, "n_subjects", min(len(SUBJECTS), max(8, self.books // 50)))
        self._check_ranges()
        if self.n_members is not None:
            if not 2 <= self.n_members <= MAX_MEMBERS:
                raise ConfigurationError(
                    f"n_members must be in [2, {MAX_MEMBERS}]; got {self.n_members}"
                )
            if self.feedback_share:
                raise ConfigurationError(
                    "feedback_share must be 0 for a consortium (n_members): the generator draws "
                    f"feedback for one library system only; got {self.feedback_share}"
                )

    def _check_ranges(self) -> None:
        limits = {
            "n_readers": (2, MAX_READERS),
            "n_books": (8, MAX_BOOKS),
            "n_branches": (1, len(BRANCHES)),
            "n_subjects": (8, len(SUBJECTS)),
            "n_sessions": (0, 10**9),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigurationError(f"{name} must be in [{low}, {high}]; got {value}")

    @property
    def readers(self) -> int:
        return int(self.n_readers)  # type: ignore[arg-type]

    @property
    def books(self) -> int:
        return int(self.n_books)  # type: ignore[arg-type]

    @property
    def branches(self) -> int:
        return int(self.n_branches)  # type: ignore[arg-type]

    @property
    def subjects(self) -> int:
        return int(self.n_subjects)  # type: ignore[arg-type]

    @property
    def sessions(self) -> int:
        return int(self.n_sessions)  # type: ignore[arg-type]

    @property
    def start(self) -> date:
        """First day with events (the window is `days` days ending with `end`)."""
        return self.end - timedelta(days=self.days - 1)


def consortium_members(n_loans: int) -> int:
    """Members of a generated consortium of `n_loans` loans: one per `LOANS_PER_MEMBER` loans,
    within `DERIVED_MEMBERS` (200 members at 10M loans, 400 from 20M)."""
    low, high = DERIVED_MEMBERS
    return min(high, max(low, round(n_loans / LOANS_PER_MEMBER)))


def size_table(
    loans: tuple[int, ...] = (400, 50_000, 1_000_000, 10_000_000),
) -> list[dict[str, int]]:
    """The derived sizes for a few loan counts (documentation and the CLI's help)."""
    rows = []
    for n in loans:
        config = SampleConfig(n_loans=n)
        rows.append(
            {
                "loans": n,
                "readers": config.readers,
                "books": config.books,
                "branches": config.branches,
                "subjects": config.subjects,
                "sessions": config.sessions,
            }
        )
    return rows
