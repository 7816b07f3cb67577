"""The nightly's temporal holdout, computed by Spark on data too large for pandas.

The same split as `recsys.evaluation.splits.temporal_split` followed by `sample_test_readers`:
the cut is the loan time at position ``floor(n * (1 - test_share))`` among the n loan events in
time order; training is every interaction strictly before it; the held-out pairs are each
reader's first loan of a book from the cut on, for readers with training interactions, leaving
out books whose work the reader borrowed in training; and the scored readers are the
`max_readers` with the smallest `splits.sample_key`. Only the sampled readers' held-out pairs
come back to the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.engines.spark.training import SECONDS
from recsys.evaluation.splits import TEST_COLUMNS
from recsys.exceptions import RecsysError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Relative rank error of the first, approximate search for the cut (then made exact).
CUT_SEARCH_ERROR = 1e-4
WORK_KEY = "work_key"


@dataclass(frozen=True)
class SparkHoldout:
    """The training part (a Spark DataFrame), the sampled held-out pairs (as `Split.test`) and
    the counts `Split.describe` reports."""

    train: DataFrame
    test: pd.DataFrame
    described: dict[str, Any]

    @property
    def test_readers(self) -> list[str]:
        return list(pd.unique(self.test[C.READER_ID]))


def temporal_holdout(
    interactions: DataFrame,
    work_keys: DataFrame,
    *,
    test_share: float,
    max_readers: int,
    seed: int,
) -> SparkHoldout:
    """Split `interactions` (see the module docstring); `work_keys` is ``[book_id, work_key]``
    for the catalogued records (any other book is a work of its own)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be strictly between 0 and 1; got {test_share!r}")
    loans = interactions.where(F.col(C.EVENT).isin(list(Events.LOAN_EVENTS)))
    cut = _cut(loans, test_share)
    train = interactions.where(F.col(SECONDS) < cut)
    works = F.coalesce(F.col(WORK_KEY), F.concat(F.lit("book:"), F.col(C.BOOK_ID)))
    # kept while the counts below are taken: each count would otherwise redo the shuffles
    kept = StorageLevel.MEMORY_AND_DISK
    held = (
        loans.where(F.col(SECONDS) >= cut)
        .groupBy(C.READER_ID, C.BOOK_ID)
        .agg(F.min(SECONDS).alias(SECONDS))
        .persist(kept)
    )
    training_readers = (
        train.where(F.col(C.READER_ID).isNotNull()).select(C.READER_ID).distinct().persist(kept)
    )
    known = held.join(training_readers, C.READER_ID, "left_semi").persist(kept)
    cold = held.join(training_readers, C.READER_ID, "left_anti")
    borrowed = (
        train.where(F.col(C.EVENT).isin(list(Events.LOAN_EVENTS)))
        .join(work_keys, C.BOOK_ID, "left")
        .select(C.READER_ID, works.alias(WORK_KEY))
        .distinct()
    )
    with_work = known.join(work_keys, C.BOOK_ID, "left").withColumn(WORK_KEY, works)
    new = with_work.join(borrowed, [C.READER_ID, WORK_KEY], "left_anti").drop(WORK_KEY)
    new = new.persist(kept)
    try:
        return _held_out(train, training_readers, known, cold, new, test_share, max_readers, seed)
    finally:
        for frame in (new, known, training_readers, held):
            frame.unpersist()


def _held_out(
    train: DataFrame,
    training_readers: DataFrame,
    known: DataFrame,
    cold: DataFrame,
    new: DataFrame,
    test_share: float,
    max_readers: int,
    seed: int,
) -> SparkHoldout:
    """The sampled readers' pairs of `new` and the counts `Split.describe` reports."""
    from pyspark.sql import functions as F

    keyed = (
        new.select(C.READER_ID)
        .distinct()
        .withColumn("key", F.sha2(F.concat(F.lit(f"{seed}:"), F.col(C.READER_ID)), 256))
    )
    chosen = keyed.orderBy("key").limit(max_readers).select(C.READER_ID)
    rows = new.join(chosen, C.READER_ID, "left_semi").collect()
    test = _test_frame(rows)
    train_counts = train.agg(
        F.count(F.lit(1)).alias("rows"), F.max(SECONDS).alias("newest")
    ).collect()[0]
    cold_counts = cold.agg(
        F.count(F.lit(1)).alias("pairs"), F.countDistinct(C.READER_ID).alias("readers")
    ).collect()[0]
    if not train_counts["rows"]:
        raise ValueError("temporal_split: all loan events share one timestamp; nothing to train on")
    n_new = new.count()
    sampled = keyed.count() > max_readers
    params: dict[str, Any] = {"test_share": test_share, "only_new": True}
    if sampled:
        params["test_readers_sampled"] = True
    described = {
        "kind": "temporal",
        **params,
        "train_interactions": int(train_counts["rows"]),
        "train_readers": training_readers.count(),
        "test_pairs": len(test),
        "test_readers": int(test[C.READER_ID].nunique()),
        "cold_start_readers": int(cold_counts["readers"]),
        "cold_start_pairs": int(cold_counts["pairs"]),
        "dropped_already_borrowed": int(known.count() - n_new),
        "train_end": _iso(train_counts["newest"]),
        "test_start": test[C.TIMESTAMP].min().isoformat() if len(test) else None,
    }
    return SparkHoldout(train=train, test=test, described=described)


def _cut(loans: DataFrame, test_share: float) -> float:
    """The loan time at position ``floor(n * (1 - test_share))`` in time order (exactly): an
    approximate quantile brackets it, and the few times in the bracket are sorted."""
    from pyspark.sql import functions as F

    n = loans.count()
    if n < 2:
        raise ValueError(f"temporal_split needs at least 2 loan events; got {n}")
    position = min(n - 1, max(1, int(np.floor(n * (1 - test_share)))))
    share = position / n
    low, high = loans.approxQuantile(
        SECONDS,
        [max(0.0, share - 2 * CUT_SEARCH_ERROR), min(1.0, share + 2 * CUT_SEARCH_ERROR)],
        CUT_SEARCH_ERROR,
    )
    before = loans.where(F.col(SECONDS) < low).count()
    bracket = [
        row[0]
        for row in loans.where((F.col(SECONDS) >= low) & (F.col(SECONDS) <= high))
        .select(SECONDS)
        .orderBy(SECONDS)
        .collect()
    ]
    if not before <= position < before + len(bracket):
        raise RecsysError(  # approxQuantile guarantees its bracket: only a Spark bug gets here
            f"the holdout's cut was not within the loan times bracketed at rank error "
            f"{CUT_SEARCH_ERROR}; the split was not made"
        )
    return float(bracket[position - before])


def _test_frame(rows: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            C.READER_ID: pd.Series([row[C.READER_ID] for row in rows], dtype=object),
            C.BOOK_ID: pd.Series([row[C.BOOK_ID] for row in rows], dtype=object),
            C.TIMESTAMP: pd.to_datetime(
                np.array([row[SECONDS] for row in rows], dtype=np.float64), unit="s", utc=True
            ),
        }
    )
    ordered = frame.sort_values([C.TIMESTAMP, C.READER_ID, C.BOOK_ID], kind="stable")
    return ordered[TEST_COLUMNS].reset_index(drop=True)


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()
