"""`new_pairs_split`, the validation a model tunes itself on, keeps its definition on string
pairs while working on integer codes, and samples whole readers beyond its interaction cap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import Dataset
from recsys.evaluation.splits import new_pairs_split
from tests.models.test_fit_equivalence import messy_interactions

PAIR = [C.READER_ID, C.BOOK_ID]


def string_new_pairs(dataset: Dataset, share: float) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The held-out pairs, the cold-start pairs and how many later pairs were seen before,
    computed on string pairs (the definition the integer-coded split keeps)."""
    frame = dataset.interactions
    seconds = (frame[C.TIMESTAMP] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    loans = frame[C.EVENT].isin(Events.LOAN_EVENTS).to_numpy()
    loan_times = np.sort(seconds[loans & ~np.isnan(seconds)])
    cut = loan_times[min(len(loan_times) - 1, int(len(loan_times) * (1 - share)))]
    before = seconds < cut
    train = frame.loc[before]
    later = frame.loc[~before & loans, PAIR].astype(str).drop_duplicates()
    seen = pd.MultiIndex.from_frame(later).isin(pd.MultiIndex.from_frame(train[PAIR].astype(str)))
    known = later[C.READER_ID].isin(set(train[C.READER_ID].astype(str))).to_numpy()
    return later[known & ~seen], later[~known], int((known & seen).sum())


def library_with_newcomers() -> Dataset:
    """`messy_interactions` and two readers whose only loans come last (cold start)."""
    frame = messy_interactions(seed=2, n=6000)
    last = frame[C.TIMESTAMP].max()
    newcomers = pd.DataFrame(
        {
            C.READER_ID: ["new-1", "new-1", "new-2"],
            C.BOOK_ID: ["b1", "b2", "b1"],
            C.EVENT: Events.LOAN,
            C.TIMESTAMP: [last, last, last],
        }
    )
    return Dataset.from_interactions(pd.concat([frame, newcomers], ignore_index=True))


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_new_pairs_split_equals_the_string_pair_definition(share: float) -> None:
    dataset = library_with_newcomers()
    split = new_pairs_split(dataset, test_share=share)
    held, cold, dropped = string_new_pairs(dataset, share)
    assert len(held) > 50 and dropped > 0
    assert set(cold[C.READER_ID]) == {"new-1", "new-2"}
    pd.testing.assert_frame_equal(split.test[PAIR], held.reset_index(drop=True))
    pd.testing.assert_frame_equal(split.cold_start[PAIR], cold.reset_index(drop=True))
    assert split.dropped_seen == dropped
    assert split.kind == "new-pairs"
    assert len(split.train.interactions) < len(dataset.interactions)
    assert split.train.interactions[C.TIMESTAMP].max() < split.test[C.TIMESTAMP].min()


def test_a_capped_new_pairs_split_keeps_whole_sampled_readers() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=2, n=6000))
    full = new_pairs_split(dataset, test_share=0.3)
    capped = new_pairs_split(dataset, test_share=0.3, max_interactions=2000, seed=5)
    full_train, train = full.train.interactions, capped.train.interactions
    assert 1000 < len(train) < 3000 < len(full_train)
    readers = set(train[C.READER_ID].astype(str))
    # every kept reader keeps all their training rows, and only they are held out
    whole = full_train[full_train[C.READER_ID].astype(str).isin(readers)]
    pd.testing.assert_frame_equal(train, whole.reset_index(drop=True))
    assert set(capped.test[C.READER_ID]) <= readers
    expected = full.test[full.test[C.READER_ID].isin(readers)]
    pd.testing.assert_frame_equal(capped.test, expected.reset_index(drop=True))
    again = new_pairs_split(dataset, test_share=0.3, max_interactions=2000, seed=5)
    pd.testing.assert_frame_equal(again.test, capped.test)


def test_data_without_two_dated_loans_holds_nothing_out() -> None:
    undated = Dataset(pd.DataFrame({C.READER_ID: ["r1", "r2"], C.BOOK_ID: ["b1", "b1"]}))
    one_loan = Dataset.from_interactions(messy_interactions(n=1))
    for dataset in (undated, one_loan):
        split = new_pairs_split(dataset)
        assert split.train is dataset
        assert split.test.empty and split.cold_start.empty


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"test_share": 1.0}, "test_share must be strictly between 0 and 1; got 1.0"),
        ({"max_interactions": 0}, "max_interactions must be a positive integer; got 0"),
    ],
)
def test_new_pairs_split_refuses_bad_parameters(params: dict[str, float], message: str) -> None:
    dataset = Dataset.from_interactions(messy_interactions(n=50))
    with pytest.raises(ValueError, match=message):
        new_pairs_split(dataset, **params)  # type: ignore[arg-type]
