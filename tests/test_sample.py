"""The sample library generator: deterministic, canonical columns, and realistic structure."""

from __future__ import annotations

import argparse
import gzip
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipelines.sample
from pipelines.cli import COMMAND_MODULES
from recsys.columns import Audiences, Events
from recsys.config import Settings
from recsys.exceptions import ConfigurationError
from recsys.sample import SampleConfig, SampleLibrary, generate_library, size_table, write_library
from recsys.sample.events import branch_open
from recsys.sample.vocab import BRANCHES

LOAN_COLUMNS = ["reader_id", "book_id", "borrowed_at", "event", "library_id", "copy_id"]
VIEW_COLUMNS = ["session_id", "book_id", "viewed_at", "reader_id"]
CATALOG_COLUMNS = [
    "book_id",
    "title",
    "author",
    "subjects",
    "isbn",
    "language",
    "audience",
    "year",
    "work_id",
    "format",
]
HOLDING_COLUMNS = ["book_id", "library_id", "copies", "available"]


@pytest.fixture
def library() -> SampleLibrary:
    return generate_library(SampleConfig(n_loans=20_000, seed=7))


def _loans_only(library: SampleLibrary) -> pd.DataFrame:
    loans = library.loans
    return loans[loans["event"] == Events.LOAN]


def _first_subject(library: SampleLibrary) -> pd.Series:
    return library.catalog.set_index("book_id")["subjects"].str.split("; ").str[0]


def _read_csvs(paths: list[Path]) -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths], ignore_index=True
    )


def test_same_config_writes_byte_identical_files(tmp_path: Path) -> None:
    config = SampleConfig(n_loans=400)
    first = write_library(generate_library(config), tmp_path / "a")
    second = write_library(generate_library(config), tmp_path / "b")
    other = write_library(generate_library(SampleConfig(n_loans=400, seed=43)), tmp_path / "c")
    for kind, paths in first.items():
        for path, again, different in zip(paths, second[kind], other[kind], strict=True):
            assert path.read_bytes() == again.read_bytes(), path.name
            assert path.name == different.name
    assert first["loans"][0].read_bytes() != other["loans"][0].read_bytes()


def test_files_have_the_canonical_columns_and_formats(tmp_path: Path) -> None:
    library = generate_library(SampleConfig(n_loans=400))
    written = write_library(library, tmp_path)
    assert sorted(written) == ["catalog", "holdings", "loans", "views"]
    assert written["loans"] == [tmp_path / "loans" / "loans.csv.gz"]
    loans, views = _read_csvs(written["loans"]), _read_csvs(written["views"])
    catalog, holdings = _read_csvs(written["catalog"]), _read_csvs(written["holdings"])
    assert list(loans.columns) == LOAN_COLUMNS
    assert list(views.columns) == VIEW_COLUMNS
    assert list(catalog.columns) == CATALOG_COLUMNS
    assert list(holdings.columns) == HOLDING_COLUMNS
    assert len(loans) == len(library.loans) and len(views) == len(library.views)

    assert loans["reader_id"].str.fullmatch(r"P\d{7}").all()
    assert catalog["book_id"].str.fullmatch(r"B\d{6}").all() and catalog["book_id"].is_unique
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert loans["borrowed_at"].str.fullmatch(iso).all()
    assert views["viewed_at"].str.fullmatch(iso).all()
    assert loans["borrowed_at"].min() >= "2024-11-21T" and loans["borrowed_at"].max() < "2026-11-21"
    assert set(loans["event"]) == set(Events.LOAN_EVENTS)
    assert (loans.loc[loans["event"] == Events.HOLD, "copy_id"] == "").all()
    assert set(loans["book_id"]) <= set(catalog["book_id"])
    assert set(holdings["book_id"]) == set(catalog["book_id"])
    assert set(catalog["audience"]) == set(Audiences.ALL)
    assert catalog["year"].astype(int).between(1900, 2026).all()
    assert catalog["isbn"].str.fullmatch(r"(97891\d{8})?").all()
    assert (holdings["available"].astype(int) <= holdings["copies"].astype(int)).all()


def test_isbns_have_valid_check_digits(library: SampleLibrary) -> None:
    isbns = library.catalog["isbn"][library.catalog["isbn"] != ""]
    digits = np.array([[int(c) for c in isbn] for isbn in isbns])
    assert ((digits * np.tile([1, 3], 7)[:13]).sum(axis=1) % 10 == 0).all()


def test_sizes_derive_from_the_number_of_loans(library: SampleLibrary) -> None:
    config = library.config
    assert (library.loans["event"] == Events.LOAN).sum() == config.n_loans == 20_000
    assert len(library.catalog) == config.books == 500
    assert library.catalog["work_id"].nunique() < len(library.catalog)
    assert library.loans["library_id"].nunique() == config.branches == 5
    table = {row["loans"]: row for row in size_table()}
    assert (table[1_000_000]["readers"], table[1_000_000]["books"]) == (66_667, 25_000)
    assert 5 <= table[1_000_000]["branches"] <= 8 and table[10_000_000]["branches"] == 8
    assert SampleConfig(n_loans=400, n_readers=50).readers == 50


def test_events_follow_the_calendar(library: SampleLibrary) -> None:
    loans = _loans_only(library)
    hours = loans["borrowed_at"].dt.hour
    assert hours.between(9, 19).all()  # loans happen in opening hours
    per_weekday = loans["borrowed_at"].dt.day_of_week.value_counts()
    assert per_weekday[6] < 0.5 * per_weekday[2]  # quiet Sundays
    assert library.loans["borrowed_at"].is_monotonic_increasing
    assert library.views["viewed_at"].is_monotonic_increasing


def test_branches_keep_weekly_hours_and_close_on_public_holidays(library: SampleLibrary) -> None:
    config = library.config
    loans = _loans_only(library)
    physical = loans[loans["copy_id"].notna()]
    day = ((physical["borrowed_at"] - pd.Timestamp(config.start, tz="UTC")).dt.days).to_numpy()
    branch = physical["library_id"].astype(str).map({b: i for i, b in enumerate(BRANCHES)})
    assert branch_open(config)[branch.to_numpy(), day].all()  # never on a closed day
    weekday = physical["borrowed_at"].dt.day_of_week
    assert not (weekday == 6).any()  # every branch closes on Sundays
    assert set(physical.loc[weekday == 0, "library_id"].astype(str)) == {BRANCHES[0]}
    events = library.loans["borrowed_at"]
    holidays = events.dt.strftime("%m-%d").isin(["01-01", "05-01", "12-24", "12-25", "12-26"])
    assert not holidays.any()  # e-books, renewals and holds included
    online = library.loans[library.loans["copy_id"].isna() | (library.loans["event"] != "loan")]
    assert (online["borrowed_at"].dt.day_of_week == 6).sum() > 100  # online on Sundays


def test_popularity_and_reader_activity_are_long_tailed(library: SampleLibrary) -> None:
    loans = _loans_only(library)
    per_book = loans["book_id"].value_counts().to_numpy()
    top_percent = max(1, len(library.catalog) // 100)
    assert per_book[:top_percent].sum() / per_book.sum() > 0.05  # 1% of books, >5x their share
    assert per_book[len(per_book) // 2 :].sum() / per_book.sum() < 0.2  # a long, thin tail
    per_reader = loans["reader_id"].value_counts()
    per_reader = per_reader[per_reader > 0].to_numpy()
    assert np.median(per_reader) < 0.6 * per_reader.mean()  # many light readers
    assert per_reader[: len(per_reader) // 10].sum() / per_reader.sum() > 0.3  # few heavy ones


def test_editions_of_a_work_share_its_work_id(library: SampleLibrary) -> None:
    catalog = library.catalog
    sizes = catalog.groupby("work_id").size()
    assert set(sizes.unique()) == {1, 2, 3}
    multi = catalog[catalog["work_id"].isin(sizes[sizes > 1].index)]
    per_work = multi.groupby("work_id").agg(
        titles=("title", "nunique"),
        authors=("author", "nunique"),
        books=("book_id", "nunique"),
        formats=("format", lambda f: set(f)),
        years=("year", "nunique"),
    )
    assert (per_work["titles"] == 1).all() and (per_work["authors"] == 1).all()
    assert (per_work["books"] == sizes[sizes > 1]).all()
    assert per_work["formats"].apply(lambda f: "audiobook" in f).any()
    assert (per_work["years"] > 1).any()


def test_readers_keep_to_their_audience(library: SampleLibrary) -> None:
    loans = _loans_only(library)
    audience = loans["book_id"].astype(str).map(library.catalog.set_index("book_id")["audience"])
    shares = pd.crosstab(loans["reader_id"].astype(str), audience, normalize="index")
    counts = loans["reader_id"].astype(str).value_counts()
    regular = shares.loc[counts[counts >= 10].index]
    assert regular.max(axis=1).mean() > 0.85  # most of a reader's loans are one audience
    assert (regular[Audiences.CHILDREN] > 0.8).mean() > 0.1  # and there are young readers
    children_subjects = library.catalog.loc[
        library.catalog["audience"] == Audiences.CHILDREN, "subjects"
    ]
    assert children_subjects.str.contains("Juvenile|children|Easy readers|Fairy").all()


def test_loans_concentrate_on_few_subjects(library: SampleLibrary) -> None:
    loans = _loans_only(library)
    subject = loans["book_id"].astype(str).map(_first_subject(library)).to_numpy()
    readers = loans["reader_id"].astype(str).to_numpy()

    def top_two_share(subjects: np.ndarray) -> float:
        frame = pd.DataFrame({"reader": readers, "subject": subjects})
        counts = frame.groupby(["reader", "subject"]).size().sort_values(ascending=False)
        top_two = counts.groupby(level=0).head(2).groupby(level=0).sum()
        total = counts.groupby(level=0).sum()
        return float((top_two / total)[total >= 10].mean())

    shuffled = np.random.default_rng(0).permutation(subject)
    assert top_two_share(subject) > top_two_share(shuffled) + 0.25


def _half_to_half_distance(library: SampleLibrary) -> float:
    """Mean total-variation distance between a reader's subjects in the two years."""
    loans = _loans_only(library)
    frame = pd.DataFrame(
        {
            "reader": loans["reader_id"].astype(str).to_numpy(),
            "subject": loans["book_id"].astype(str).map(_first_subject(library)).to_numpy(),
            "late": (loans["borrowed_at"] >= pd.Timestamp("2025-11-21", tz="UTC")).to_numpy(),
        }
    )
    shares = pd.crosstab([frame["reader"], frame["late"]], frame["subject"], normalize="index")
    counts = frame.groupby(["reader", "late"]).size().unstack(fill_value=0)
    readers = counts[(counts[False] >= 15) & (counts[True] >= 15)].index
    early = shares.xs(False, level="late").loc[readers]
    late = shares.xs(True, level="late").loc[readers]
    return float((early - late).abs().sum(axis=1).mean() / 2)


def test_tastes_drift_over_time() -> None:
    # Same seed, so the two libraries differ only in whether tastes move.
    drifting = generate_library(SampleConfig(n_loans=20_000, n_books=3_000, seed=7))
    steady = generate_library(SampleConfig(n_loans=20_000, n_books=3_000, seed=7, drift_share=0))
    assert _half_to_half_distance(drifting) > _half_to_half_distance(steady) + 0.03


def test_renewals_and_holds_belong_to_a_loan_of_the_same_reader_and_book(
    library: SampleLibrary,
) -> None:
    frame = library.loans.assign(
        reader_id=library.loans["reader_id"].astype(str),
        book_id=library.loans["book_id"].astype(str),
        copy_id=library.loans["copy_id"].astype(str),
    )
    loans = frame[frame["event"] == Events.LOAN][["reader_id", "book_id", "borrowed_at", "copy_id"]]
    renewals = frame[frame["event"] == Events.RENEWAL]
    share = len(renewals) / len(loans)
    assert 0.15 < share < 0.3
    before = pd.merge_asof(
        renewals.sort_values("borrowed_at"),
        loans.rename(columns={"borrowed_at": "loaned_at"}),
        left_on="borrowed_at",
        right_on="loaned_at",
        by=["reader_id", "book_id", "copy_id"],
        direction="backward",
    )
    assert before["loaned_at"].notna().all()  # a loan of the same copy to the same reader
    assert (before["borrowed_at"] - before["loaned_at"] <= pd.Timedelta(days=56)).all()

    holds = frame[frame["event"] == Events.HOLD]
    assert len(holds) > 0.05 * len(loans)
    after = pd.merge_asof(
        holds.sort_values("borrowed_at"),
        loans.rename(columns={"borrowed_at": "loaned_at"}),
        left_on="borrowed_at",
        right_on="loaned_at",
        by=["reader_id", "book_id"],
        direction="forward",
    )
    assert (after["loaned_at"] - after["borrowed_at"] <= pd.Timedelta(days=45)).all()
    held_books = library.loans.loc[library.loans["event"] == Events.HOLD, "book_id"]
    popularity = _loans_only(library)["book_id"].value_counts()
    assert popularity[held_books.astype(str)].median() > 3 * popularity.median()


def test_copies_are_held_by_the_library_that_lent_them(library: SampleLibrary) -> None:
    loans = _loans_only(library)
    with_copy = loans[loans["copy_id"].notna()]
    lent = with_copy[["book_id", "library_id"]].astype(str).drop_duplicates()
    held = library.holdings[["book_id", "library_id"]].astype(str)
    assert len(lent.merge(held)) == len(lent)
    owners = with_copy.astype(str).groupby("copy_id")[["book_id", "library_id"]].nunique()
    assert (owners == 1).all().all()  # a barcode belongs to one book at one branch
    ebooks = library.catalog.loc[library.catalog["format"] == "ebook", "book_id"]
    assert loans.loc[loans["book_id"].isin(ebooks), "copy_id"].isna().all()


def test_views_are_mostly_anonymous_sessions_related_to_tastes(library: SampleLibrary) -> None:
    views = library.views
    logged_in = views["reader_id"].notna()
    assert 0.2 < logged_in.mean() < 0.4
    assert (views.groupby("session_id", observed=True)["reader_id"].nunique() <= 1).all()
    assert views.groupby("session_id", observed=True).size().mean() > 2
    subject = _first_subject(library)
    loan_pairs = set(
        zip(
            _loans_only(library)["reader_id"].astype(str),
            _loans_only(library)["book_id"].astype(str).map(subject),
            strict=True,
        )
    )
    seen = views[logged_in]
    pairs = list(
        zip(seen["reader_id"].astype(str), seen["book_id"].astype(str).map(subject), strict=True)
    )
    shuffled = list(
        zip(
            np.random.default_rng(0).permutation(seen["reader_id"].astype(str)),
            seen["book_id"].astype(str).map(subject),
            strict=True,
        )
    )
    matches = np.mean([pair in loan_pairs for pair in pairs])
    assert matches > np.mean([pair in loan_pairs for pair in shuffled]) + 0.2


def test_split_last_days_puts_each_day_in_its_own_file(tmp_path: Path) -> None:
    library = generate_library(SampleConfig(n_loans=5_000))
    written = write_library(library, tmp_path, split_last_days=3)
    whole = write_library(library, tmp_path / "whole")
    for kind, column in (("loans", "borrowed_at"), ("views", "viewed_at")):
        names = [p.name for p in written[kind]]
        assert names == [
            f"{kind}-2024-11-21--2026-11-17.csv.gz",
            f"{kind}-2026-11-18.csv.gz",
            f"{kind}-2026-11-19.csv.gz",
            f"{kind}-2026-11-20.csv.gz",
        ]
        assert names == sorted(names)
        parts = [_read_csvs([p]) for p in written[kind]]
        assert parts[0][column].max() < "2026-11-18"
        for part, day in zip(parts[1:], ("2026-11-18", "2026-11-19", "2026-11-20"), strict=True):
            assert part[column].str.startswith(day).all()
        assert sum(len(part) for part in parts[1:]) > 0
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), _read_csvs(whole[kind]))
    assert [p.name for p in written["catalog"]] == ["catalog.csv.gz"]


def test_an_empty_day_still_gets_a_file_with_a_header(tmp_path: Path) -> None:
    library = generate_library(SampleConfig(n_loans=50, n_sessions=0))
    written = write_library(library, tmp_path, split_last_days=5)
    with gzip.open(written["views"][-1], "rt") as handle:
        assert handle.read() == ",".join(VIEW_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_loans": 10}, "n_loans must be at least 50; got 10"),
        ({"n_loans": 400, "renewal_share": 1.5}, "renewal_share must be between 0 and 1; got 1.5"),
        ({"n_loans": 400, "n_branches": 9}, r"n_branches must be in \[1, 8\]; got 9"),
        ({"n_loans": 400, "days": 7}, "days must be at least 30; got 7"),
    ],
)
def test_bad_configs_are_refused_with_the_rule(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SampleConfig(**kwargs)


def test_split_last_days_outside_the_window_is_refused(tmp_path: Path) -> None:
    library = generate_library(SampleConfig(n_loans=400))
    with pytest.raises(ConfigurationError, match=r"split_last_days must be in \[0, 729\].*got 730"):
        write_library(library, tmp_path, split_last_days=730)


def test_cli_writes_the_sample_into_the_inbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "pipelines.sample" in COMMAND_MODULES
    parser = argparse.ArgumentParser(prog="recsys")
    pipelines.sample.register(parser.add_subparsers())
    args = parser.parse_args(
        ["sample", "--loans", "400", "--seed", "3", "--split-last-days", "1", "--end", "2026-11-20"]
    )
    assert args.handler(args, Settings(data_dir=tmp_path)) == 0
    inbox = tmp_path / "inbox"
    assert (inbox / "loans" / "loans-2026-11-20.csv.gz").exists()
    assert (inbox / "catalog" / "catalog.csv.gz").exists()
    output = capsys.readouterr().out
    assert "loans: " in output and "in 2 file(s)" in output and str(inbox) in output
    direct = write_library(generate_library(SampleConfig(n_loans=400, seed=3)), tmp_path / "d")
    assert direct["catalog"][0].read_bytes() == (inbox / "catalog" / "catalog.csv.gz").read_bytes()


def test_cli_sample_ends_yesterday_by_default(tmp_path: Path) -> None:
    """The demo's data must look current, or retention and the volume check would reject it."""
    parser = argparse.ArgumentParser(prog="recsys")
    pipelines.sample.register(parser.add_subparsers())
    args = parser.parse_args(["sample", "--loans", "400", "--split-last-days", "1"])
    assert args.handler(args, Settings(data_dir=tmp_path)) == 0
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert (tmp_path / "inbox" / "loans" / f"loans-{yesterday.isoformat()}.csv.gz").exists()
