"""The fit's integer-keyed shortcuts give exactly what the plain string-pair computations give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import Dataset
from recsys.models.hybrid import HybridRecommender, _validation_split
from recsys.models.matrix import IdMap
from recsys.models.ranking import Pairs, batch_readers, pair_support
from recsys.models.weighting import event_weights, latest_time

from .pair_reference import aggregate

START = pd.Timestamp("2024-01-01", tz="UTC")


def messy_interactions(seed: int = 0, n: int = 3000) -> pd.DataFrame:
    """Repeat loans, renewals, holds and views, some without a time, in shuffled order."""
    rng = np.random.default_rng(seed)
    events = rng.choice(
        [Events.LOAN, Events.LOAN, Events.RENEWAL, Events.HOLD, Events.VIEW], size=n
    )
    times = START + pd.to_timedelta(rng.integers(0, 400 * 86_400, size=n), unit="s")
    frame = pd.DataFrame(
        {
            C.READER_ID: [f"r{i}" for i in rng.integers(0, 150, size=n)],
            C.BOOK_ID: [f"b{i}" for i in rng.integers(0, 120, size=n)],
            C.EVENT: events,
            C.TIMESTAMP: pd.Series(times),
        }
    )
    frame.loc[rng.random(n) < 0.02, C.TIMESTAMP] = pd.NaT
    return frame


@pytest.mark.parametrize("half_life", [None, 30.0])
@pytest.mark.parametrize("damp", [True, False])
def test_pair_sums_equal_aggregate(half_life: float | None, damp: bool) -> None:
    frame = messy_interactions()
    weights = event_weights(frame, half_life_days=half_life, reference_time=latest_time(frame))
    books = IdMap([*sorted(frame[C.BOOK_ID].unique()), "never-borrowed"])
    pairs = Pairs(frame, books)
    sums = pairs.sums(weights, damp=damp)
    readers = pairs.readers_of(sums)
    expected = aggregate(frame, weights, damp=damp)
    assert readers.ids.tolist() == pd.unique(expected[C.READER_ID]).tolist()
    matrix = pairs.matrix(sums, readers)
    rows = readers.index(expected[C.READER_ID])
    cols = books.index(expected[C.BOOK_ID])
    assert matrix.nnz == len(expected)
    # bit for bit, not approximately
    assert np.array_equal(
        np.asarray(matrix[rows, cols]).ravel(), expected[C.WEIGHT].to_numpy(np.float32)
    )


def test_pair_matrix_drops_readers_the_id_map_does_not_know() -> None:
    frame = messy_interactions()
    books = IdMap(sorted(frame[C.BOOK_ID].unique()))
    pairs = Pairs(frame, books)
    sums = pairs.sums(event_weights(frame), damp=True)
    some = IdMap(["r3", "r7"])
    matrix = pairs.matrix(sums, some)
    assert matrix.shape == (2, len(books))
    own = frame[frame[C.READER_ID].isin(["r3", "r7"])][[C.READER_ID, C.BOOK_ID]]
    assert matrix.nnz == len(own.drop_duplicates())


def test_pair_support_counts_distinct_borrowers_of_both_books() -> None:
    frame = messy_interactions(seed=1)
    books = IdMap([*sorted(frame[C.BOOK_ID].unique()), "never-borrowed"])
    links = pair_support(frame, Pairs(frame, books), 3)
    loans = frame[frame[C.EVENT].isin(Events.LOAN_EVENTS)][[C.READER_ID, C.BOOK_ID]]
    loans = loans.drop_duplicates()
    readers = IdMap(pd.unique(loans[C.READER_ID]))
    borrowed = np.zeros((len(readers), len(books)), dtype=np.int64)
    borrowed[readers.index(loans[C.READER_ID]), books.index(loans[C.BOOK_ID])] = 1
    both = borrowed.T @ borrowed
    np.fill_diagonal(both, 0)
    both[both < 3] = 0
    assert links.dtype == np.int32
    assert (both > 0).sum() > 0
    assert np.array_equal(links.toarray(), both)


def string_validation_split(dataset: Dataset, share: float) -> pd.DataFrame:
    """The held-out pairs computed on string pairs (the definition the fast split keeps)."""
    frame = dataset.interactions
    seconds = (frame[C.TIMESTAMP] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    loans = frame[C.EVENT].isin(Events.LOAN_EVENTS).to_numpy()
    loan_times = np.sort(seconds[loans & ~np.isnan(seconds)])
    cut = loan_times[min(len(loan_times) - 1, int(len(loan_times) * (1 - share)))]
    before = seconds < cut
    train = frame.loc[before]
    held = frame.loc[~before & loans, [C.READER_ID, C.BOOK_ID]].astype(str).drop_duplicates()
    seen = pd.MultiIndex.from_frame(train[[C.READER_ID, C.BOOK_ID]].astype(str))
    held = held[held[C.READER_ID].isin(set(train[C.READER_ID].astype(str)))]
    return held[~pd.MultiIndex.from_frame(held).isin(seen)]


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_validation_split_equals_the_string_pair_definition(share: float) -> None:
    frame = messy_interactions(seed=2, n=6000)
    dataset = Dataset.from_interactions(frame)
    books = IdMap(dataset.books.astype(str))
    split = _validation_split(dataset, Pairs(dataset.interactions, books), share)
    assert split is not None
    train, held = split
    expected = string_validation_split(dataset, share)
    assert len(held) > 50
    pd.testing.assert_frame_equal(held, expected)
    assert len(train.interactions) < len(dataset.interactions)


def test_shortlists_do_not_depend_on_the_batch() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=3))
    model = HybridRecommender(factors=4, iterations=5, random_state=0).fit(dataset)
    readers = list(model.readers_.ids[:40])
    targets = sparse.random(40, len(model.books_), density=0.05, format="csr", random_state=0)
    whole = model._shortlist(readers, targets)
    parts = [model._shortlist(readers[s : s + 7], targets[s : s + 7]) for s in range(0, 40, 7)]
    assert np.array_equal(whole[0], np.concatenate([p[0] for p in parts], axis=1))
    assert np.array_equal(whole[1], np.concatenate([p[1] for p in parts]))
    assert np.array_equal(whole[2], np.concatenate([p[2] for p in parts]))


def test_batch_readers_bounds_the_dense_block() -> None:
    assert batch_readers(20_000) == 256
    assert batch_readers(250_000) == 33
    assert batch_readers(250_000, 32) == 32
    assert batch_readers(50_000_000) == 1
