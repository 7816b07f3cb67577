"""What the consortium model learns, computed by Spark: ALS factors, k-anonymous pair counts,
readers' weighted histories and popularity.

The input is one DataFrame of interactions, ``[reader_id, book_id, event, seconds,
library_id]`` (`INTERACTION_COLUMNS`; `seconds` is Unix time), and the books as the driver
numbers them, each with its work (`write_books`). Records of one work (editions, and the copies
of one title that member libraries catalogue under their own ids) are one item for the
collaborative parts, so their readers pool:

- **histories**: per reader and record, the loans weighted as the implicit engine weighs them
  (event weight, recency half-life, repeat loans damped to ``log2(1 + sum)``), from the loans of
  the pooled libraries only (`TrainingParams.pool_libraries`);
- **ALS**: `pyspark.ml.recommendation.ALS` with implicit preferences on the readers' summed
  weights per work, for the works at least `min_pair_support` readers borrowed (a rarer work gets
  no factors, so no list reaches it through one reader's taste);
- **pairs**: per pair of works, how many distinct readers borrowed both within `sequence_window`
  works of each other, and how many borrowed them in each order; only pairs of at least
  `min_pair_support` readers leave Spark. Every library's loans count here (a member that keeps
  its readers' histories out of the pool still adds to these anonymous counts);
- **popularity**: per record, the readers' damped weights with the popularity half-life.

Results go through Parquet files in a scratch folder the driver reads with pyarrow: nothing is
collected row by row through the JVM gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback
from recsys.models.matrix import IdMap
from recsys.models.weighting import SECONDS_PER_DAY, check_event_weights

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

SECONDS = "seconds"
INTERACTION_COLUMNS = (C.READER_ID, C.BOOK_ID, C.EVENT, SECONDS, C.LIBRARY_ID)
BOOK = "book"
WORK = "work"
READER = "reader"


@dataclass(frozen=True)
class TrainingParams:
    """The model's parameters that shape what Spark computes."""

    factors: int
    regularization: float
    alpha: float
    iterations: int
    half_life_days: float | None
    popularity_half_life_days: float | None
    event_weights: Mapping[str, float] | None
    sequence_window: int | None
    min_pair_support: int
    pool_libraries: tuple[str, ...] | None
    blocks: int | None
    seed: int


@dataclass(frozen=True)
class Learned:
    """Spark's results as the driver's arrays (readers in `reader_ids` order, records in the
    order of the books written by `write_books`, works by their code)."""

    reader_ids: np.ndarray
    matrix: sparse.csr_matrix
    reference_time: float | None
    popularity: np.ndarray
    user_factors: np.ndarray
    work_factors: np.ndarray
    links: sparse.csr_matrix | None
    sequence: sparse.csr_matrix | None


def borrowed_books_outside(
    spark: SparkSession, interactions: DataFrame, known: IdMap, scratch: Path
) -> list[str]:
    """The book ids of `interactions` that `known` lacks (records missing from the catalog),
    sorted: the model knows every book a reader borrowed."""
    known_table = to_spark(spark, pa.table({C.BOOK_ID: known.ids.tolist()}), scratch / "known")
    missing = (
        interactions.select(C.BOOK_ID)
        .where(interactions[C.BOOK_ID].isNotNull())
        .distinct()
        .join(known_table, C.BOOK_ID, "left_anti")
    )
    return sorted(_read(missing, scratch / "missing").column(C.BOOK_ID).to_pylist())


def learn(
    spark: SparkSession,
    interactions: DataFrame,
    books: IdMap,
    works: np.ndarray,
    params: TrainingParams,
    scratch: Path,
    *,
    pairs: bool,
) -> Learned:
    """Everything the model learns from `interactions` (see the module docstring).

    `works` is the work code of each of `books`; `pairs` False skips the pair counts (a model
    fitted for readers' lists only).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    book_table = to_spark(
        spark,
        pa.table(
            {
                C.BOOK_ID: books.ids.tolist(),
                BOOK: np.arange(len(books), dtype=np.int32),
                WORK: np.asarray(works, dtype=np.int32),
            }
        ),
        scratch / "books",
    )
    events = _without_dismissed(interactions.join(F.broadcast(book_table), C.BOOK_ID))
    reference = _reference_time(events, params.event_weights)
    pooled = events.where(F.col(C.READER_ID).isNotNull())
    if params.pool_libraries is not None:
        pooled = pooled.where(F.col(C.LIBRARY_ID).isin(list(params.pool_libraries)))
    weight = _event_weight(params.event_weights)
    # the same grouping the implicit engine's `Pairs` makes: per reader and record, damped
    histories = (
        pooled.select(
            C.READER_ID,
            BOOK,
            WORK,
            (weight * _decay(reference, params.half_life_days)).alias("w"),
            (weight * _decay(reference, params.popularity_half_life_days)).alias("p"),
        )
        .groupBy(C.READER_ID, BOOK, WORK)
        .agg(F.sum("w").alias("w"), F.sum("p").alias("p"))
        .select(
            C.READER_ID,
            BOOK,
            WORK,
            F.log2(1.0 + F.col("w")).alias("rating"),
            F.log2(1.0 + F.col("p")).alias("popularity"),
        )
        .where(F.col("rating") > 0)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        readers = _read(
            histories.select(C.READER_ID).distinct().orderBy(C.READER_ID), scratch / "readers"
        ).column(C.READER_ID)
        reader_ids = np.asarray(readers.to_pylist(), dtype=object)
        reader_table = to_spark(
            spark,
            pa.table({C.READER_ID: readers, READER: np.arange(len(readers), dtype=np.int32)}),
            scratch / "reader_index",
        )
        indexed = histories.join(reader_table, C.READER_ID).persist(StorageLevel.MEMORY_AND_DISK)
        matrix = _matrix(indexed, len(reader_ids), len(books), scratch)
        popularity = _per_book(histories, len(books), scratch)
        user_factors, work_factors = _als(
            indexed, params, len(reader_ids), int(works.max(initial=-1)) + 1, scratch
        )
        indexed.unpersist()
    finally:
        histories.unpersist()
    links = sequence = None
    if pairs:
        links, sequence = _pair_counts(events, params, int(works.max(initial=-1)) + 1, scratch)
    return Learned(
        reader_ids=reader_ids,
        matrix=matrix,
        reference_time=reference,
        popularity=popularity,
        user_factors=user_factors,
        work_factors=work_factors,
        links=links,
        sequence=sequence,
    )


def _without_dismissed(events: DataFrame) -> DataFrame:
    """Every event of a (reader, book) the reader said they are not interested in goes, as in the
    implicit engine's `Pairs`: such a pair is no signal, whatever else the reader did."""
    from pyspark.sql import functions as F

    dismissed = (
        events.where(F.col(C.EVENT) == Feedback.NOT_INTERESTED)
        .select(C.READER_ID, C.BOOK_ID)
        .distinct()
    )
    return events.join(F.broadcast(dismissed), [C.READER_ID, C.BOOK_ID], "left_anti")


def _reference_time(events: DataFrame, event_weights: Mapping[str, float] | None) -> float | None:
    """The newest event time (the decay's "now"), after checking every event has a weight."""
    from pyspark.sql import functions as F

    row = events.agg(F.max(SECONDS).alias("newest"), F.collect_set(C.EVENT).alias("kinds")).first()
    known = check_event_weights(event_weights)
    unknown = sorted(set(row["kinds"] or []) - set(known)) if row is not None else []
    if unknown:
        raise ValueError(
            f"interactions have unknown event values {unknown}; known: {sorted(known)}"
        )
    newest = None if row is None else row["newest"]
    return None if newest is None else float(newest)


def _event_weight(event_weights: Mapping[str, float] | None) -> Column:
    """Each row's event weight (a missing event is a loan, as in the implicit engine)."""
    from pyspark.sql import functions as F

    weights = check_event_weights(event_weights)
    column = F.lit(weights[Events.LOAN])
    for event, value in weights.items():
        column = F.when(F.col(C.EVENT) == event, F.lit(value)).otherwise(column)
    return column


def _decay(reference: float | None, half_life_days: float | None) -> Column:
    """``0.5 ** (age / half-life)``; 1 for an undated event, and without a half-life."""
    from pyspark.sql import functions as F

    if half_life_days is None or reference is None:
        return F.lit(1.0)
    age = F.greatest(F.lit(reference) - F.col(SECONDS), F.lit(0.0)) / SECONDS_PER_DAY
    return F.coalesce(F.pow(F.lit(0.5), age / half_life_days), F.lit(1.0))


def _matrix(indexed: DataFrame, n_readers: int, n_books: int, scratch: Path) -> sparse.csr_matrix:
    table = _read(indexed.select(READER, BOOK, "rating"), scratch / "matrix")
    matrix = sparse.csr_matrix(
        (
            table.column("rating").to_numpy().astype(np.float32),
            (table.column(READER).to_numpy(), table.column(BOOK).to_numpy()),
        ),
        shape=(n_readers, n_books),
        dtype=np.float32,
    )
    matrix.sort_indices()
    return matrix


def _per_book(histories: DataFrame, n_books: int, scratch: Path) -> np.ndarray:
    from pyspark.sql import functions as F

    table = _read(
        histories.groupBy(BOOK).agg(F.sum("popularity").alias("popularity")), scratch / "popular"
    )
    popularity = np.zeros(n_books, dtype=np.float64)
    popularity[table.column(BOOK).to_numpy()] = table.column("popularity").to_numpy()
    return popularity


def _als(
    indexed: DataFrame, params: TrainingParams, n_readers: int, n_works: int, scratch: Path
) -> tuple[np.ndarray, np.ndarray]:
    """ALS factors of readers and works; rows of readers and works it never saw stay zero."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    supported = (
        indexed.groupBy(WORK)
        .agg(F.countDistinct(READER).alias("readers"))
        .where(F.col("readers") >= params.min_pair_support)
        .select(WORK)
    )
    ratings = (
        indexed.join(supported, WORK, "left_semi")
        .groupBy(READER, WORK)
        .agg(F.sum("rating").cast("float").alias("rating"))
    )
    als = ALS(
        rank=params.factors,
        maxIter=params.iterations,
        regParam=params.regularization,
        alpha=params.alpha,
        implicitPrefs=True,
        userCol=READER,
        itemCol=WORK,
        ratingCol="rating",
        seed=params.seed,
    )
    # one block per core Spark has (its default of 10 blocks is for clusters)
    context = indexed.sparkSession.sparkContext
    blocks = params.blocks or context.defaultParallelism
    als = als.setNumUserBlocks(blocks).setNumItemBlocks(blocks)
    # ALS cuts its lineage every `checkpointInterval` iterations only where a checkpoint folder
    # is set; without one, 15 iterations overflowed the JVM's stack on a 1M-loan consortium
    context.setCheckpointDir(str(scratch / "checkpoints"))
    fitted = als.fit(ratings)
    return (
        _factors(_read(fitted.userFactors, scratch / "user_factors"), n_readers, params.factors),
        _factors(_read(fitted.itemFactors, scratch / "work_factors"), n_works, params.factors),
    )


def _factors(table: pa.Table, n_rows: int, factors: int) -> np.ndarray:
    out = np.zeros((n_rows, factors), dtype=np.float32)
    if table.num_rows:
        values = table.column("features").combine_chunks().flatten().to_numpy()
        out[table.column("id").to_numpy()] = values.reshape(-1, factors)
    return out


def _pair_counts(
    events: DataFrame, params: TrainingParams, n_works: int, scratch: Path
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Works x works: distinct readers who borrowed both (`links`), and who borrowed the column
    work after the row work, scaled by ``1 / sqrt(readers of each)`` (`sequence`); each kept
    only where at least `min_pair_support` readers made it."""
    from pyspark.sql import functions as F

    loans = events.where(
        F.col(C.READER_ID).isNotNull()
        & (F.col(C.EVENT).isNull() | F.col(C.EVENT).isin(list(Events.LOAN_EVENTS)))
    )
    # each reader's first loan of each work, in time order (undated loans last)
    firsts = loans.groupBy(C.READER_ID, WORK).agg(
        F.coalesce(F.min(SECONDS), F.lit(float("inf"))).alias("first")
    )
    ordered = (
        firsts.groupBy(C.READER_ID)
        .agg(F.sort_array(F.collect_list(F.struct("first", WORK))).alias("loans"))
        .select(F.col(f"loans.{WORK}").alias("works"))
        .where(F.size("works") >= 2)
    )
    window = params.sequence_window
    later = (lambda i: F.size("works") - i - 1) if window is None else (lambda i: F.lit(window))

    def followers(i: Column) -> Column:
        """(this work, each later one) for the work at 0-based position `i`."""
        return F.transform(
            F.slice("works", i + 2, later(i)),
            lambda b: F.struct(F.element_at("works", i + 1).alias("a"), b.alias("b")),
        )

    pairs = ordered.select(
        F.explode(
            F.flatten(F.transform(F.sequence(F.lit(0), F.size("works") - 2), followers))
        ).alias("pair")
    )
    k = params.min_pair_support
    counts = (
        pairs.select(
            F.least("pair.a", "pair.b").alias("low"),
            F.greatest("pair.a", "pair.b").alias("high"),
            (F.col("pair.a") < F.col("pair.b")).cast("int").alias("forward"),
        )
        .groupBy("low", "high")
        .agg(F.count(F.lit(1)).alias("both"), F.sum("forward").alias("forward"))
        .where(F.col("both") >= k)
    )
    table = _read(counts, scratch / "pairs")
    readers = _read(firsts.groupBy(WORK).count(), scratch / "work_readers")
    per_work = np.zeros(n_works, dtype=np.float64)
    per_work[readers.column(WORK).to_numpy()] = readers.column("count").to_numpy()
    low, high = table.column("low").to_numpy(), table.column("high").to_numpy()
    both, forward = table.column("both").to_numpy(), table.column("forward").to_numpy()
    shape = (n_works, n_works)
    upper = sparse.coo_matrix((both.astype(np.int32), (low, high)), shape=shape)
    links = (upper + upper.T).tocsr()
    links.sort_indices()
    backward = both - forward
    source = np.concatenate([low[forward >= k], high[backward >= k]])
    target = np.concatenate([high[forward >= k], low[backward >= k]])
    count = np.concatenate([forward[forward >= k], backward[backward >= k]]).astype(np.float64)
    scale = 1.0 / np.sqrt(np.maximum(per_work, 1.0))
    sequence = sparse.csr_matrix(
        ((count * scale[source] * scale[target]).astype(np.float32), (source, target)), shape=shape
    )
    sequence.sort_indices()
    return links, sequence


def to_spark(spark: SparkSession, table: pa.Table, path: Path) -> DataFrame:
    """`table` as a Spark DataFrame, through a Parquet file Spark reads in the folder `path`."""
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path / "part-0.parquet")
    return spark.read.parquet(str(path))


def _read(frame: DataFrame, path: Path) -> pa.Table:
    """`frame` computed by Spark into Parquet at `path`, read back as one Arrow table (in the
    frame's order: Spark numbers its part files in partition order)."""
    frame.write.mode("overwrite").parquet(str(path))
    files = sorted(path.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])
