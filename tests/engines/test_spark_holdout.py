"""The Spark engine's holdout is the implicit engine's: the same cut, the same held-out pairs,
the same sampled readers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pytest

from recsys.columns import Columns as C
from recsys.engines.spark.frames import write_interactions
from recsys.engines.spark.holdout import WORK_KEY, temporal_holdout
from recsys.engines.spark.training import to_spark
from recsys.evaluation.splits import sample_test_readers, temporal_split
from recsys.sample import SampleConfig, generate_library, library_dataset

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.mark.slow
def test_the_spark_holdout_holds_out_what_the_implicit_engine_does(
    spark: SparkSession, tmp_path: Path
) -> None:
    dataset = library_dataset(generate_library(SampleConfig(n_loans=3_000, seed=5)))
    split = sample_test_readers(temporal_split(dataset, test_share=0.1), max_readers=40, seed=7)
    interactions = spark.read.parquet(
        str(write_interactions(dataset.interactions, tmp_path / "interactions"))
    )
    records = dataset.catalog.dropna(subset=[C.WORK_ID])
    work_keys = to_spark(
        spark,
        pa.table(
            {
                C.BOOK_ID: records[C.BOOK_ID].astype(str).tolist(),
                WORK_KEY: ("work:" + records[C.WORK_ID].astype(str)).tolist(),
            }
        ),
        tmp_path / "works",
    )
    holdout = temporal_holdout(interactions, work_keys, test_share=0.1, max_readers=40, seed=7)
    expected = split.test.sort_values([C.TIMESTAMP, C.READER_ID, C.BOOK_ID], kind="stable")
    pd.testing.assert_frame_equal(holdout.test, expected.reset_index(drop=True), check_dtype=False)
    described = split.describe()
    assert described["dropped_already_borrowed"] > 0  # the work rule is exercised
    assert described["cold_start_pairs"] > 0
    assert holdout.described == described
    assert holdout.train.count() == len(split.train.interactions)
