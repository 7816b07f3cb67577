"""Splits hold out loans only, never leak the future, count cold-start and re-read books."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.splits import (
    leave_last_k_out,
    make_split,
    random_holdout,
    sample_test_readers,
    temporal_split,
    validation_split,
)

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2024-01-01", tz="UTC")


def _frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """rows: (reader, book, event, day number)."""
    return pd.DataFrame(
        {
            C.READER_ID: [r[0] for r in rows],
            C.BOOK_ID: [r[1] for r in rows],
            C.EVENT: [r[2] for r in rows],
            C.TIMESTAMP: [START + r[3] * DAY for r in rows],
            C.LIBRARY_ID: "main",
        }
    )


@pytest.fixture
def small_library() -> Dataset:
    """Ten loans on days 0..9, plus views; the last loan day is 9."""
    rows = [
        ("r1", "b1", "loan", 0),
        ("r1", "b2", "loan", 1),
        ("r2", "b1", "loan", 2),
        ("r2", "b3", "loan", 3),
        ("r3", "b2", "loan", 4),
        ("r3", "b4", "loan", 5),
        ("r1", "b3", "loan", 6),
        ("r2", "b4", "view", 7),
        ("r1", "b5", "view", 8),
        ("r2", "b4", "loan", 8),  # test: r2 new book
        ("r1", "b1", "loan", 9),  # test: r1 re-borrows b1 -> not new
        ("r9", "b2", "loan", 9),  # test: r9 has no training history -> cold start
        ("r3", "b9", "view", 9),  # a view in the test window: never a target
    ]
    return Dataset.from_interactions(_frame(rows))


@pytest.fixture
def random_library() -> Dataset:
    rng = np.random.default_rng(7)
    n = 3_000
    frame = pd.DataFrame(
        {
            C.READER_ID: rng.integers(0, 150, n).astype(str),
            C.BOOK_ID: rng.integers(0, 400, n).astype(str),
            C.EVENT: rng.choice(["loan", "loan", "loan", "renewal", "view"], n),
            C.TIMESTAMP: START + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        }
    )
    return Dataset.from_interactions(frame)


def test_temporal_split_holds_out_the_last_loans_and_never_leaks(small_library: Dataset) -> None:
    split = temporal_split(small_library, test_share=0.25)
    # 10 loan events; the cut is at position floor(10 * 0.75) = 7 of the sorted loan times: day 8
    train_times = split.train.interactions[C.TIMESTAMP]
    assert train_times.max() == START + 7 * DAY
    assert list(split.test[C.READER_ID]) == ["r2"]
    assert list(split.test[C.BOOK_ID]) == ["b4"]
    assert split.cold_start[C.READER_ID].tolist() == ["r9"]
    assert split.dropped_seen == 1  # r1 re-borrowing b1


def test_temporal_split_every_test_event_is_later_than_every_train_event(
    random_library: Dataset,
) -> None:
    split = temporal_split(random_library, test_share=0.1, only_new=False)
    assert split.train.interactions[C.TIMESTAMP].max() < split.test[C.TIMESTAMP].min()
    loans = random_library.interactions[C.EVENT].isin(["loan", "renewal", "hold"]).sum()
    held = len(split.test) + len(split.cold_start)
    assert 0.05 * loans < held <= 0.1 * loans + 1


def test_only_new_false_keeps_rereads(small_library: Dataset) -> None:
    split = temporal_split(small_library, test_share=0.25, only_new=False)
    assert sorted(split.test[C.BOOK_ID]) == ["b1", "b4"]
    assert split.dropped_seen == 0


def test_another_edition_of_a_borrowed_work_is_not_a_target(small_library: Dataset) -> None:
    catalog = pd.DataFrame({C.BOOK_ID: ["b3", "b4"], C.WORK_ID: ["w1", "w1"]})
    dataset = Dataset.from_interactions(small_library.interactions, catalog=catalog)
    # r2 borrowed b3 (work w1) on day 3, so b4 (also w1) on day 8 is not new to r2
    split = temporal_split(dataset, test_share=0.25)
    assert split.test.empty
    assert split.dropped_seen == 2


def test_leave_last_k_out_takes_each_readers_last_loans(small_library: Dataset) -> None:
    split = leave_last_k_out(small_library, k=1, only_new=False)
    held = dict(zip(split.test[C.READER_ID], split.test[C.BOOK_ID], strict=True))
    # r1's last loan is b1 (day 9), r2's b4 (day 8), r3's b4 (day 5); r9 has one loan only
    assert held == {"r1": "b1", "r2": "b4", "r3": "b4"}
    train = split.train.interactions
    r3_train = train.loc[train[C.READER_ID] == "r3", C.TIMESTAMP]
    assert r3_train.max() < START + 5 * DAY  # r3's later view (day 9) left out too
    assert "r9" in set(train[C.READER_ID])


def test_leave_last_k_out_only_new_drops_rereads(small_library: Dataset) -> None:
    split = leave_last_k_out(small_library, k=1)
    assert set(split.test[C.READER_ID]) == {"r2", "r3"}
    assert split.dropped_seen == 1


def test_random_holdout_is_reproducible_and_keeps_training_loans(random_library: Dataset) -> None:
    first = random_holdout(random_library, share=0.2, seed=3, only_new=False)
    second = random_holdout(random_library, share=0.2, seed=3, only_new=False)
    pd.testing.assert_frame_equal(first.test, second.test)
    other = random_holdout(random_library, share=0.2, seed=4, only_new=False)
    assert not first.test.equals(other.test)
    train_loans = first.train.interactions.loc[first.train.interactions[C.EVENT] != "view"]
    assert set(first.test[C.READER_ID]) <= set(train_loans[C.READER_ID])
    assert first.cold_start.empty


def test_validation_split_is_carved_from_training_data_only(random_library: Dataset) -> None:
    outer = temporal_split(random_library, test_share=0.1)
    inner = validation_split(outer.train, test_share=0.1)
    assert inner.kind == "validation-temporal"
    assert inner.test[C.TIMESTAMP].max() < outer.test[C.TIMESTAMP].min()
    assert len(inner.train.interactions) < len(outer.train.interactions)


def test_describe_reports_counts_without_reader_ids(small_library: Dataset) -> None:
    description = temporal_split(small_library, test_share=0.25).describe()
    assert description["test_readers"] == 1
    assert description["cold_start_readers"] == 1
    assert description["dropped_already_borrowed"] == 1
    assert not {"r1", "r2", "r3", "r9"} & {str(v) for v in description.values()}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: temporal_split(d, test_share=1.5), "test_share must be strictly between"),
        (lambda d: random_holdout(d, share=0), "share must be strictly between"),
        (lambda d: leave_last_k_out(d, k=0), "k must be a positive integer; got 0"),
        (lambda d: validation_split(d, method="kfold"), "method must be one of"),
        (lambda d: make_split(d, "weekly"), "split must be one of"),
        (
            lambda d: sample_test_readers(temporal_split(d), max_readers=0),
            "max_readers must be a positive integer; got 0",
        ),
    ],
)
def test_bad_split_parameters_are_named(small_library: Dataset, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(small_library)


def test_temporal_split_needs_dated_loans() -> None:
    frame = _frame([("r1", "b1", "loan", 0), ("r2", "b1", "loan", 0)])
    with pytest.raises(ValueError, match="share one timestamp"):
        temporal_split(Dataset.from_interactions(frame))


def test_sample_test_readers_keeps_whole_readers_and_training(random_library: Dataset) -> None:
    split = temporal_split(random_library, test_share=0.3)
    n_readers = len(split.test_readers)
    sampled = sample_test_readers(split, max_readers=10, seed=3)
    assert len(sampled.test_readers) == 10 < n_readers
    # every held-out pair of a chosen reader stays, nobody else's
    chosen = split.test[split.test[C.READER_ID].isin(sampled.test_readers)]
    assert len(sampled.test) == len(chosen)
    assert sampled.train is split.train
    assert sampled.params["test_readers_sampled"] is True
    again = sample_test_readers(split, max_readers=10, seed=3)
    assert again.test.equals(sampled.test)
    assert sample_test_readers(split, max_readers=n_readers) is split


def test_already_borrowed_filter_equals_the_string_definition() -> None:
    """Integer keys give what joining reader and work id strings gives, editions included."""
    rng = np.random.default_rng(8)
    n = 4000
    frame = pd.DataFrame(
        {
            C.READER_ID: [f"r{i}" for i in rng.integers(0, 80, n)],
            C.BOOK_ID: [f"b{i}" for i in rng.integers(0, 200, n)],
            C.EVENT: rng.choice(["loan", "renewal", "hold", "view"], n),
            C.TIMESTAMP: START + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            C.LIBRARY_ID: "main",
        }
    )
    # editions: books b0..b149 share works three by three, one without a work id; the rest are
    # not catalogued
    books = [f"b{i}" for i in range(150)]
    works = [None if i == 4 else f"w{i // 3}" for i in range(150)]
    catalog = pd.DataFrame({C.BOOK_ID: books, C.WORK_ID: works})
    dataset = Dataset.from_interactions(frame, catalog=catalog)
    kept = temporal_split(dataset, test_share=0.3)
    everything = temporal_split(dataset, test_share=0.3, only_new=False)

    work_of = dict(zip(books, works, strict=True))
    train = everything.train.interactions
    train_loans = train[train[C.EVENT] != "view"]
    seen = {
        (reader, work_of.get(book) or f"book:{book}")
        for reader, book in zip(train_loans[C.READER_ID], train_loans[C.BOOK_ID], strict=True)
    }
    test = everything.test
    is_seen = [
        (reader, work_of.get(book) or f"book:{book}") in seen
        for reader, book in zip(test[C.READER_ID], test[C.BOOK_ID], strict=True)
    ]
    expected = test.loc[~np.array(is_seen)].reset_index(drop=True)
    assert 0 < kept.dropped_seen < len(test)
    assert kept.dropped_seen == sum(is_seen)
    pd.testing.assert_frame_equal(kept.test, expected)


def test_held_out_pairs_and_cold_start_equal_the_string_definition() -> None:
    """Id codes give what comparing id strings gives: each pair once, at its first loan, and
    readers without training interactions set apart."""
    rng = np.random.default_rng(9)
    n = 3000
    readers = rng.integers(0, 60, n)
    frame = pd.DataFrame(
        {
            C.READER_ID: [f"r{i}" for i in readers],
            C.BOOK_ID: [f"b{i}" for i in rng.integers(0, 40, n)],  # many re-loans
            C.EVENT: rng.choice(["loan", "renewal", "view"], n),
            # readers r50..r59 only arrive in the last weeks: cold start
            C.TIMESTAMP: START
            + pd.to_timedelta(rng.integers(0, 200, n) + np.where(readers >= 50, 200, 0), unit="D"),
        }
    )
    split = temporal_split(Dataset.from_interactions(frame), test_share=0.3, only_new=False)

    train_readers = set(split.train.interactions[C.READER_ID])
    held = frame[(frame[C.TIMESTAMP] >= split.test[C.TIMESTAMP].min()) & (frame[C.EVENT] != "view")]
    held = held.sort_values(C.TIMESTAMP, kind="stable").drop_duplicates([C.READER_ID, C.BOOK_ID])
    known = held[C.READER_ID].isin(train_readers)
    columns = [C.READER_ID, C.BOOK_ID, C.TIMESTAMP]
    assert 0 < (~known).sum() < known.sum()
    pd.testing.assert_frame_equal(split.test, held.loc[known, columns].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        split.cold_start, held.loc[~known, columns].reset_index(drop=True)
    )
