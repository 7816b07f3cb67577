"""Train/test splits for offline evaluation.

Every split holds out *loan-type* events only (loans, renewals, holds; views are never targets) and
returns a `Split`: the training `Dataset` (catalog and holdings kept whole: records a library has
catalogued are known at training time) and the held-out `(reader_id, book_id)` pairs.

Rules shared by all splits, so that numbers are comparable between models and runs:

- a test reader must have training interactions; readers without any (cold start) are moved to
  `Split.cold_start` and counted, not scored;
- with ``only_new=True`` (the default) a held-out book the reader already borrowed in training, or
  another edition of a work they borrowed, is not a target: recommenders filter such books out;
- the held-out pairs are unique per reader and book (a re-loan within the test window counts once).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import Dataset, empty_frame
from recsys.data.works import work_map, works_of
from recsys.models.weighting import timestamps_seconds

TEST_COLUMNS = [C.READER_ID, C.BOOK_ID, C.TIMESTAMP]


@dataclass(frozen=True)
class Split:
    """A training Dataset and the held-out loan events that a recommender should find.

    Attributes
    ----------
    train
        What models may fit on.
    test
        ``[reader_id, book_id, timestamp]``: one row per held-out (reader, book) pair, readers all
        present in `train`.
    cold_start
        Held-out pairs of readers with no training interactions (not scored; reported).
    kind
        ``temporal``, ``leave-last``, ``random`` (prefixed ``validation-`` when carved from
        training data), ``new-pairs``.
    params
        The arguments that made the split, for reports.
    dropped_seen
        Held-out pairs dropped because the reader had already borrowed the book or work.
    """

    train: Dataset
    test: pd.DataFrame
    cold_start: pd.DataFrame
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    dropped_seen: int = 0

    @property
    def test_readers(self) -> pd.Index:
        return pd.Index(self.test[C.READER_ID].unique())

    def describe(self) -> dict[str, Any]:
        """Counts for reports (never reader ids)."""
        times = self.train.interactions[C.TIMESTAMP]
        return {
            "kind": self.kind,
            **self.params,
            "train_interactions": len(self.train.interactions),
            "train_readers": len(self.train.id_codes.reader_ids),
            "test_pairs": len(self.test),
            "test_readers": int(self.test[C.READER_ID].nunique()),
            "cold_start_readers": int(self.cold_start[C.READER_ID].nunique()),
            "cold_start_pairs": len(self.cold_start),
            "dropped_already_borrowed": self.dropped_seen,
            "train_end": _iso(times.max()) if len(times) else None,
            "test_start": _iso(self.test[C.TIMESTAMP].min()) if len(self.test) else None,
        }


def temporal_split(dataset: Dataset, *, test_share: float = 0.1, only_new: bool = True) -> Split:
    """Global temporal holdout: the last `test_share` of loan events by time.

    The cut is a single moment: every training interaction (views included) is strictly earlier
    than every test event, so no model sees the future. Events at the cut moment all go to the
    test side, which can make the test share slightly larger than asked. Views after the cut are
    dropped (they are neither training data nor targets).
    """
    _check_share("test_share", test_share)
    frame = dataset.interactions.reset_index(drop=True)
    is_loan = _loan_mask(frame)
    loan_times = frame.loc[is_loan, C.TIMESTAMP].sort_values(ignore_index=True)
    if len(loan_times) < 2:
        raise ValueError(f"temporal_split needs at least 2 loan events; got {len(loan_times)}")
    position = min(len(loan_times) - 1, max(1, int(np.floor(len(loan_times) * (1 - test_share)))))
    cut = loan_times.iloc[position]
    before = (frame[C.TIMESTAMP] < cut).to_numpy()
    if not before.any():
        raise ValueError("temporal_split: all loan events share one timestamp; nothing to train on")
    train = frame.loc[before]
    test = frame.loc[~before & is_loan]
    params = {"test_share": test_share, "only_new": only_new}
    return _finish(dataset, train, test, kind="temporal", params=params, only_new=only_new)


def leave_last_k_out(dataset: Dataset, *, k: int = 1, only_new: bool = True) -> Split:
    """Per reader, hold out the last `k` loan events (readers with more than `k` loans only).

    The reader's own interactions from the first held-out moment on (views included) are left out
    of training, so their held-out loans are not visible through a same-day view.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    frame = dataset.interactions.reset_index(drop=True)
    loans = frame.loc[_loan_mask(frame)]
    ordered = loans.sort_values([C.READER_ID, C.TIMESTAMP], kind="stable")
    from_end = ordered.groupby(C.READER_ID, sort=False).cumcount(ascending=False)
    per_reader = ordered.groupby(C.READER_ID, sort=False)[C.BOOK_ID].transform("size")
    held = ordered.loc[(from_end < k) & (per_reader > k)]
    return _hold_out_per_reader(
        dataset,
        held,
        kind="leave-last",
        params={"k": int(k), "only_new": only_new},
        only_new=only_new,
    )


def random_holdout(
    dataset: Dataset, *, share: float = 0.2, seed: int = 42, only_new: bool = True
) -> Split:
    """Per reader, hold out a random `share` of loan events, for data without usable dates.

    Readers with at least two loans give ``max(1, floor(share * n))`` events, never all of them.
    Time plays no part (all interactions of other events stay in training).
    """
    _check_share("share", share)
    frame = dataset.interactions.reset_index(drop=True)
    loans = frame.loc[_loan_mask(frame)]
    rng = np.random.default_rng(seed)
    shuffled = loans.iloc[rng.permutation(len(loans))]
    position = shuffled.groupby(C.READER_ID, sort=False).cumcount()
    size = shuffled.groupby(C.READER_ID, sort=False)[C.BOOK_ID].transform("size")
    n_test = np.minimum(np.maximum(1, np.floor(size * share)), size - 1)
    held = shuffled.loc[position.to_numpy() < n_test.to_numpy()]
    train = frame.drop(index=held.index)
    params = {"share": share, "seed": seed, "only_new": only_new}
    return _finish(dataset, train, held, kind="random", params=params, only_new=only_new)


def validation_split(
    train_dataset: Dataset,
    *,
    method: str = "temporal",
    test_share: float = 0.1,
    k: int = 1,
    seed: int = 42,
    only_new: bool = True,
) -> Split:
    """A split carved from training data only, for hyper-parameter search.

    Pass ``split.train`` (never the full data): the outer test set stays unseen while searching.
    """
    if method == "temporal":
        inner = temporal_split(train_dataset, test_share=test_share, only_new=only_new)
    elif method == "leave-last":
        inner = leave_last_k_out(train_dataset, k=k, only_new=only_new)
    elif method == "random":
        inner = random_holdout(train_dataset, share=test_share, seed=seed, only_new=only_new)
    else:
        raise ValueError(
            f"method must be one of 'temporal', 'leave-last', 'random'; got {method!r}"
        )
    return replace(inner, kind=f"validation-{inner.kind}")


def new_pairs_split(
    dataset: Dataset,
    *,
    test_share: float = 0.1,
    max_interactions: int | None = None,
    seed: int = 0,
) -> Split:
    """Temporal holdout of the (reader, book) pairs new after the last `test_share` of loans:
    the validation a model tunes itself on, inside every fit.

    Training keeps every interaction before the cut (the loan at `1 - test_share` of the dated
    loans; an interaction without an event counts as a loan). The test holds each pair whose
    reader has earlier interactions and that no earlier interaction (a view too) links, at its
    first later loan, in the interactions' order. Unlike `temporal_split`, editions of one work
    stay apart and pairs are told apart by the Dataset's integer pair codes: comparing string
    ids, as `_finish` does, is far slower at ten million loans. Beyond `max_interactions`
    training rows, every side keeps a seeded sample of whole readers (their expected training
    rows about `max_interactions`). Data without two dated loans holds nothing out.
    """
    _check_share("test_share", test_share)
    if max_interactions is not None and not max_interactions >= 1:
        raise ValueError(f"max_interactions must be a positive integer; got {max_interactions!r}")
    params = {"test_share": test_share, "max_interactions": max_interactions, "seed": seed}
    frame = dataset.interactions
    nothing = empty_frame(tuple(TEST_COLUMNS))
    if C.TIMESTAMP not in frame or frame.empty:
        return Split(dataset, nothing, nothing, kind="new-pairs", params=params)
    seconds = timestamps_seconds(frame[C.TIMESTAMP])
    loans = frame[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS).to_numpy()
    loan_times = np.sort(seconds[loans & ~np.isnan(seconds)])
    if len(loan_times) < 2:
        return Split(dataset, nothing, nothing, kind="new-pairs", params=params)
    cut = loan_times[min(len(loan_times) - 1, int(len(loan_times) * (1 - test_share)))]
    before = seconds < cut
    codes = dataset.pair_codes
    pair = np.full(len(frame), -1, dtype=np.int64)
    pair[codes.known] = codes.group
    reader = np.full(len(frame), -1, dtype=np.int64)
    reader[codes.known] = codes.readers[codes.group]
    earlier = before & codes.known
    later = np.flatnonzero(~before & loans & codes.known)
    _, first = np.unique(pair[later], return_index=True)
    later = later[np.sort(first)]  # each pair once, at its first loan
    known_reader = np.zeros(len(dataset.id_codes.reader_ids), dtype=bool)
    known_reader[reader[earlier]] = True
    known_pair = np.zeros(len(codes.readers), dtype=bool)
    known_pair[pair[earlier]] = True
    known, seen = known_reader[reader[later]], known_pair[pair[later]]
    cold, dropped, later = later[~known], later[known & seen], later[known & ~seen]
    n_before = int(before.sum())
    if max_interactions is not None and n_before > max_interactions:
        sampled = np.random.default_rng(seed).random(len(dataset.id_codes.reader_ids))
        kept = np.zeros(len(frame), dtype=bool)  # rows without a reader go with the unsampled
        kept[codes.known] = sampled[reader[codes.known]] < max_interactions / n_before
        before &= kept
        later, cold, dropped = (rows[kept[rows]] for rows in (later, cold, dropped))

    def held(rows: np.ndarray) -> pd.DataFrame:
        ids = {C.READER_ID: str, C.BOOK_ID: str}
        return frame.iloc[rows][TEST_COLUMNS].astype(ids).reset_index(drop=True)

    return Split(
        train=dataset.take(np.flatnonzero(before)),
        test=held(later),
        cold_start=held(cold),
        kind="new-pairs",
        params=params,
        dropped_seen=len(dropped),
    )


def sample_test_readers(split: Split, *, max_readers: int, seed: int = 42) -> Split:
    """The split with at most `max_readers` of its test readers (a seeded sample), training kept.

    Scoring every reader of a big library costs minutes per model; how far a sample's metrics
    move from the full test set's is measured in `benchmarks/bench_training.py`.
    """
    if isinstance(max_readers, bool) or not isinstance(max_readers, int | np.integer):
        raise ValueError(f"max_readers must be a positive integer; got {max_readers!r}")
    if max_readers < 1:
        raise ValueError(f"max_readers must be a positive integer; got {max_readers!r}")
    readers = split.test_readers
    if len(readers) <= max_readers:
        return split
    rng = np.random.default_rng(seed)
    chosen = readers[rng.choice(len(readers), max_readers, replace=False)]
    test = split.test.loc[split.test[C.READER_ID].isin(chosen)].reset_index(drop=True)
    return replace(split, test=test, params={**split.params, "test_readers_sampled": True})


def make_split(
    dataset: Dataset, kind: str, *, test_share: float = 0.1, k: int = 1, seed: int = 42
) -> Split:
    """Dispatch on the split name used by the CLI and reports."""
    if kind == "temporal":
        return temporal_split(dataset, test_share=test_share)
    if kind == "leave-last":
        return leave_last_k_out(dataset, k=k)
    if kind == "random":
        return random_holdout(dataset, share=test_share, seed=seed)
    raise ValueError(f"split must be one of 'temporal', 'leave-last', 'random'; got {kind!r}")


def _hold_out_per_reader(
    dataset: Dataset, held: pd.DataFrame, *, kind: str, params: dict[str, Any], only_new: bool
) -> Split:
    frame = dataset.interactions.reset_index(drop=True)
    first_held = held.groupby(C.READER_ID)[C.TIMESTAMP].min()
    reader_cut = frame[C.READER_ID].map(first_held)
    keep = reader_cut.isna() | (frame[C.TIMESTAMP] < reader_cut)
    train = frame.loc[keep.to_numpy()]
    return _finish(dataset, train, held, kind=kind, params=params, only_new=only_new)


def _finish(
    dataset: Dataset,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    kind: str,
    params: dict[str, Any],
    only_new: bool,
) -> Split:
    """Drop cold-start readers and (optionally) already-borrowed books; deduplicate pairs.

    `train` and `test` hold rows of ``dataset.interactions`` indexed by their positions there:
    readers and books are compared by the Dataset's integer id codes, since hashing the id
    strings again cost 10 s at 10 million loans.
    """
    train_rows = train.index.to_numpy()
    train_dataset = dataset.take(train_rows)
    codes = dataset.id_codes
    test = test.sort_values(C.TIMESTAMP, kind="stable")
    test_rows = test.index.to_numpy()
    pairs = pd.DataFrame({"reader": codes.readers[test_rows], "book": codes.books[test_rows]})
    first = ~pairs.duplicated().to_numpy()
    test, test_rows = test.loc[first, TEST_COLUMNS], test_rows[first]
    training_readers = codes.readers[train_rows]
    is_training_reader = np.zeros(len(codes.reader_ids), dtype=bool)
    is_training_reader[training_readers[training_readers >= 0]] = True
    test_readers = codes.readers[test_rows]
    known = (test_readers >= 0) & is_training_reader[np.maximum(test_readers, 0)]
    cold_start = test.loc[~known].reset_index(drop=True)
    test, test_rows = test.loc[known], test_rows[known]
    dropped = 0
    if only_new:
        loans = train_rows[_loan_mask(train).to_numpy()]
        seen = _seen_mask(dataset, test_rows, loans)
        dropped = int(seen.sum())
        test = test.loc[~seen]
    return Split(
        train=train_dataset,
        test=test.reset_index(drop=True),
        cold_start=cold_start,
        kind=kind,
        params=params,
        dropped_seen=dropped,
    )


def _seen_mask(dataset: Dataset, test_rows: np.ndarray, loan_rows: np.ndarray) -> np.ndarray:
    """True where the test row's reader borrowed the same book, or another edition of its work,
    in the training `loan_rows` (positions in ``dataset.interactions``)."""
    codes = dataset.id_codes
    # works are looked up per distinct book: mapping every loan's book to its work cost 10 s
    works, work_ids = pd.factorize(
        works_of(codes.book_ids, work_map(dataset.catalog)), use_na_sentinel=False
    )

    def reader_work(rows: np.ndarray) -> pd.Series:
        """(reader, work) keys; -1 for a row without a book id (it borrowed nothing)."""
        books = codes.books[rows]
        keys = codes.readers[rows].astype(np.int64) * len(work_ids) + works[np.maximum(books, 0)]
        return pd.Series(np.where(books >= 0, keys, -1))

    test_keys = reader_work(test_rows)
    # pandas' hash table: numpy's isin took 6.7 s instead of 0.4 s on nine million training keys
    return (test_keys.isin(reader_work(loan_rows)) & (test_keys >= 0)).to_numpy()


def _loan_mask(frame: pd.DataFrame) -> pd.Series:
    return frame[C.EVENT].isin(Events.LOAN_EVENTS)


def _check_share(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be strictly between 0 and 1; got {value!r}")


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()
