"""The sample generator's consortium mode: member libraries with their own records of shared
works, which the works grouping pools into one work."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipelines.sample
from recsys.columns import Events
from recsys.config import Settings
from recsys.data.works import derive_work_ids
from recsys.exceptions import ConfigurationError
from recsys.sample import SampleConfig, SampleLibrary, generate_library, write_library
from recsys.sample.config import consortium_members
from recsys.sample.vocab import BRANCHES


@pytest.fixture(scope="module")
def consortium() -> SampleLibrary:
    return generate_library(SampleConfig(n_loans=30_000, n_members=6, seed=5))


def _owner(library: SampleLibrary) -> pd.Series:
    """The member holding each record (book id -> library id)."""
    return library.holdings.set_index("book_id")["library_id"].astype(str)


def _loans_only(library: SampleLibrary) -> pd.DataFrame:
    loans = library.loans
    return loans[loans["event"] == Events.LOAN]


def test_each_record_is_one_members_own(consortium: SampleLibrary) -> None:
    catalog, holdings = consortium.catalog, consortium.holdings
    assert catalog["book_id"].is_unique
    assert sorted(holdings["book_id"]) == sorted(catalog["book_id"])  # one holding per record
    prefix = holdings["book_id"].str.rsplit("-", n=1).str[0]
    assert (prefix == holdings["library_id"]).all()  # a member's ids are its own
    assert holdings["library_id"].nunique() == 6
    assert catalog["work_id"].isna().all()  # members' catalogs share no work id
    assert (holdings["available"] <= holdings["copies"]).all()


def test_a_work_held_by_several_members_is_one_work_for_the_works_grouping(
    consortium: SampleLibrary,
) -> None:
    catalog, truth = consortium.catalog, consortium.record_works
    assert truth is not None
    frame = pd.DataFrame(
        {
            "truth": truth.reindex(catalog["book_id"]).to_numpy(),
            "derived": derive_work_ids(catalog).to_numpy(),
            "member": catalog["book_id"].map(_owner(consortium)).to_numpy(),
            "isbn": catalog["isbn"].to_numpy(),
        }
    )
    by_work = frame.groupby("truth")
    assert (by_work["derived"].nunique() == 1).all()  # every work's records are pooled
    shared = by_work["member"].nunique()
    assert (shared >= 3).sum() > 50  # many works are held by several members
    assert (by_work["isbn"].nunique() > 1).sum() > 50  # editions with their own ISBNs
    assert ((frame["isbn"] == "").mean()) > 0.01  # and records without one
    # the derivation merges few distinct works (same author, same title)
    merged = (frame.groupby("derived")["truth"].nunique() > 1).sum()
    assert merged <= 0.02 * frame["truth"].nunique()


def test_popular_works_are_held_by_many_members_and_the_long_tail_by_few(
    consortium: SampleLibrary,
) -> None:
    truth = consortium.record_works
    assert truth is not None
    members = _owner(consortium).groupby(truth).nunique()
    borrowed = _loans_only(consortium)["book_id"].astype(str).map(truth).value_counts()
    top = borrowed.index[: len(borrowed) // 50]
    tail = borrowed.index[len(borrowed) // 2 :]
    assert members[top].mean() > 4 > 2 > members[tail].mean()
    sizes = consortium.holdings.groupby("library_id").size()
    assert sizes.max() > 4 * sizes.min()  # a large member and small ones


def test_holdings_and_copies_belong_to_the_members_own_records(consortium: SampleLibrary) -> None:
    loans = consortium.loans.dropna(subset=["copy_id"])
    owners = loans.groupby("copy_id", observed=True)["book_id"].nunique()
    assert (owners == 1).all()  # a copy is one record's
    known = set(consortium.catalog["book_id"])
    assert set(consortium.loans["book_id"].astype(str)) <= known
    assert set(consortium.views["book_id"].astype(str)) <= known


def test_readers_borrow_mostly_at_their_own_member(consortium: SampleLibrary) -> None:
    loans = _loans_only(consortium)
    library = loans["library_id"].astype(str)
    home = library.groupby(loans["reader_id"].astype(str)).agg(lambda s: s.mode().iloc[0])
    at_home = (library.to_numpy() == loans["reader_id"].astype(str).map(home).to_numpy()).mean()
    assert at_home > 0.8
    interlibrary = (
        library.to_numpy() != loans["book_id"].astype(str).map(_owner(consortium))
    ).mean()
    assert 0.05 < interlibrary < 0.35  # some loans are of other members' records


def test_a_consortium_is_deterministic(tmp_path: Path) -> None:
    def digest(config: SampleConfig, folder: Path) -> str:
        paths = write_library(generate_library(config), folder, split_last_days=2)
        files = sorted(path for kind in paths.values() for path in kind)
        return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()

    config = SampleConfig(n_loans=3_000, n_members=4, seed=9)
    assert digest(config, tmp_path / "a") == digest(config, tmp_path / "b")
    assert digest(config, tmp_path / "a") != digest(
        SampleConfig(n_loans=3_000, n_members=5, seed=9), tmp_path / "c"
    )


def test_without_members_the_library_of_branches_is_unchanged() -> None:
    """The demo's sample (`make demo`, 50,000 loans) still holds the ids README's examples use."""
    library = generate_library(SampleConfig(n_loans=50_000))
    assert library.record_works is None
    assert library.catalog["work_id"].notna().all()
    assert "P4934393" in set(library.loans["reader_id"].astype(str))
    assert {"B029785", "B920358"} <= set(library.catalog["book_id"])
    assert set(library.holdings["library_id"]) == set(BRANCHES[:5])


def test_members_derive_from_the_loans() -> None:
    assert [consortium_members(n) for n in (30_000, 1_000_000, 10_000_000, 50_000_000)] == [
        2,
        20,
        200,
        400,
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_members": 1}, r"n_members must be in \[2, 999\]; got 1"),
        (
            {"n_members": 3, "feedback_share": 0.1},
            "feedback_share must be 0 for a consortium.*got 0.1",
        ),
    ],
)
def test_bad_consortium_configs_are_refused_with_the_rule(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SampleConfig(n_loans=400, **kwargs)


def test_cli_writes_a_consortium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="recsys")
    pipelines.sample.register(parser.add_subparsers())
    args = parser.parse_args(
        ["sample", "--loans", "3000", "--members", "auto", "--end", "2026-11-20"]
    )
    assert args.handler(args, Settings(data_dir=tmp_path)) == 0
    assert "sample consortium (seed 42): 200 readers, 2 members" in capsys.readouterr().out
    holdings = pd.read_csv(tmp_path / "inbox" / "holdings" / "holdings.csv.gz", dtype=str)
    assert sorted(holdings["library_id"].unique()) == ["member-001", "member-002"]
    with pytest.raises(SystemExit):
        parser.parse_args(["sample", "--members", "many"])
    assert "--members must be a whole number or 'auto'; got 'many'" in capsys.readouterr().err


def test_members_are_ranked_by_size(consortium: SampleLibrary) -> None:
    readers = _loans_only(consortium).groupby("library_id", observed=True)["reader_id"].nunique()
    ordered = readers.sort_index().to_numpy()
    assert ordered[0] == ordered.max()
    assert np.all(np.diff(ordered[:3]) < 0)


def test_members_keep_weekly_hours(consortium: SampleLibrary) -> None:
    loans = _loans_only(consortium).dropna(subset=["copy_id"])  # e-books are lent online
    weekday = loans["borrowed_at"].dt.day_of_week
    largest = (loans["library_id"] == "member-001").to_numpy()
    assert not weekday[largest].isin([6]).any() and weekday[largest].isin([0]).any()
    assert not weekday[~largest].isin([0, 6]).any()
