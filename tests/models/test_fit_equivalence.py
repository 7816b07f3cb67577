"""The fit's integer-keyed shortcuts give exactly what the plain string-pair computations give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import Dataset
from recsys.models.hybrid import (
    NEXT_WEIGHT,
    PART_SCALES,
    SCALE_BOOKS,
    HybridRecommender,
    _penalize_after_head,
)
from recsys.models.matrix import IdMap
from recsys.models.ranking import Pairs, batch_readers, pair_support
from recsys.models.sequence import sequence_matrix
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
    pairs = Pairs(Dataset(frame), books)
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
    pairs = Pairs(Dataset(frame), books)
    sums = pairs.sums(event_weights(frame), damp=True)
    some = IdMap(["r3", "r7"])
    matrix = pairs.matrix(sums, some)
    assert matrix.shape == (2, len(books))
    own = frame[frame[C.READER_ID].isin(["r3", "r7"])][[C.READER_ID, C.BOOK_ID]]
    assert matrix.nnz == len(own.drop_duplicates())


@pytest.mark.parametrize("block", [2048, 7])
def test_pair_support_counts_distinct_borrowers_of_both_books(block: int) -> None:
    frame = messy_interactions(seed=1)
    books = IdMap([*sorted(frame[C.BOOK_ID].unique()), "never-borrowed"])
    links = pair_support(frame, Pairs(Dataset(frame), books), 3, block=block)
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


def string_sequence_counts(frame: pd.DataFrame, window: int) -> pd.Series:
    """(book, later book) -> readers, from each reader's loans sorted by time on string ids."""
    loans = frame[frame[C.EVENT].isin(Events.LOAN_EVENTS) & frame[C.READER_ID].notna()]
    counts: dict[tuple[str, str], int] = {}
    for _, history in loans.groupby(C.READER_ID):
        ordered = history.sort_values([C.TIMESTAMP, C.BOOK_ID], kind="stable", na_position="last")
        books = ordered[C.BOOK_ID].drop_duplicates().tolist()
        for i, book in enumerate(books):
            for later in books[i + 1 : i + 1 + window]:
                counts[(book, later)] = counts.get((book, later), 0) + 1
    return pd.Series(counts, dtype=np.float64)


@pytest.mark.parametrize("window", [2, 50])
def test_sequence_counts_equal_the_string_definition(window: int) -> None:
    frame = messy_interactions(seed=6)
    frame.loc[frame.sample(frac=0.02, random_state=1).index, C.READER_ID] = None
    books = IdMap([*sorted(frame[C.BOOK_ID].unique()), "never-borrowed"])
    matrix = sequence_matrix(frame, Pairs(Dataset(frame), books), window=window, exponent=0.0)
    expected = string_sequence_counts(frame, window)
    assert len(expected) > 500
    assert matrix.nnz == len(expected)
    rows = books.index([a for a, _ in expected.index])
    cols = books.index([b for _, b in expected.index])
    assert np.array_equal(np.asarray(matrix[rows, cols]).ravel(), expected.to_numpy(np.float32))


def test_shortlists_do_not_depend_on_the_batch() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=3))
    model = HybridRecommender(factors=4, iterations=5, random_state=0).fit(dataset)
    readers = list(model.readers_.ids[:40])
    targets = sparse.random(40, len(model.books_), density=0.05, format="csr", random_state=0)
    whole = model._shortlist(readers, targets)
    parts = [model._shortlist(readers[s : s + 7], targets[s : s + 7]) for s in range(0, 40, 7)]
    assert np.array_equal(whole.scores, np.concatenate([p.scores for p in parts], axis=1))
    factors = np.concatenate([p.best_mean_factors for p in parts], axis=1)
    assert np.array_equal(whole.best_mean_factors, factors)
    assert np.array_equal(whole.books, np.concatenate([p.books for p in parts]))
    assert np.array_equal(whole.hits, np.concatenate([p.hits for p in parts]))


def test_batch_readers_bounds_the_dense_block() -> None:
    assert batch_readers(20_000) == 256
    assert batch_readers(250_000) == 33
    assert batch_readers(250_000, 32) == 32
    assert batch_readers(50_000_000) == 1


@pytest.mark.parametrize("part_scale", PART_SCALES)
def test_co_borrowing_reads_the_sequence_both_ways(part_scale: str) -> None:
    """The neighbours part is the reader's rows times (sequence + its transpose), scaled."""
    dataset = Dataset.from_interactions(messy_interactions(seed=7))
    model = HybridRecommender(factors=4, iterations=5, random_state=0).fit(dataset)
    index, rows, folded = model.reader_rows(list(model.readers_.ids[:30]), None)
    own = model._own_books(rows)
    names = ("neighbours", "sequence")
    parts = dict(model._parts(rows, index, folded, names, part_scale=part_scale))
    both = (rows @ (model.sequence_ + model.sequence_.T)).toarray().astype(np.float64)
    after = (rows @ model.sequence_).toarray().astype(np.float64)
    for part, raw in (("neighbours", both), ("sequence", after)):
        new_books = raw.copy()
        for row, books in zip(new_books, own, strict=True):
            row[books] = 0.0
        scale = -np.sort(-new_books, axis=1)[:, :SCALE_BOOKS].mean(axis=1, keepdims=True)
        assert (scale > 0).sum() > 20
        maximum = np.maximum(raw.max(axis=1, keepdims=True), 1e-300)
        # evidence only on the reader's own books: scaled by its maximum (never shown anyway)
        divisor = np.where(scale > 0, scale, maximum) if part_scale == "best_mean" else maximum
        expected = raw / divisor
        np.testing.assert_allclose(parts[part], expected, rtol=1e-5, atol=1e-7)
    book = int(np.flatnonzero(model.borrowed_)[0])
    others = np.arange(len(model.books_))
    # a catalog page's co-borrowing: borrowed next weighs NEXT_WEIGHT, borrowed before once
    dense = (NEXT_WEIGHT * model.sequence_ + model.sequence_.T).toarray()[book]
    np.testing.assert_allclose(model._co_borrowing(book, others), dense, rtol=1e-6)


@pytest.mark.parametrize("penalty", [0.0, 0.5])
@pytest.mark.parametrize("part_scale", PART_SCALES)
def test_the_blend_is_the_weighted_sum_of_the_scaled_parts(part_scale: str, penalty: float) -> None:
    """Scoring scales each part in a few fused passes: it gives what the parts, each on its
    scale (`_parts`, which the blend's tuning reads), weighted, summed and penalised give."""
    subjects = ["Birds", "Taxation", "Poetry", "Chemistry"]
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: [f"b{i}" for i in range(120)],
            C.TITLE: [f"{subjects[i % 4]} volume {i}" for i in range(120)],
            C.SUBJECTS: [subjects[i % 4] for i in range(120)],
        }
    )
    dataset = Dataset.from_interactions(messy_interactions(seed=11), catalog)
    weights = {"als": 1.0, "readers": 0.5, "neighbours": 0.3, "sequence": 0.3, "content": 1.5,
               "popularity": 0.2, "walks": 1.0, "ease": 1.0}  # fmt: skip
    model = HybridRecommender(
        factors=4,
        iterations=5,
        weights=weights,
        part_scale=part_scale,
        popularity_penalty=penalty,
        random_state=0,
    ).fit(dataset)
    index, rows, folded = model.reader_rows(list(model.readers_.ids[:40]), None)
    own = model._own_books(rows)
    expected = np.zeros(rows.shape, dtype=np.float64)
    for part, scores in model._parts(rows, index, folded):
        assert scores.max() > 0, part  # every part has evidence for some reader here
        expected += weights[part] * scores
    if penalty:
        _penalize_after_head(expected, model.penalty_factor_, own)
    blended = model._scores(rows, index, folded)
    np.testing.assert_allclose(blended, expected, rtol=1e-5, atol=1e-6)
