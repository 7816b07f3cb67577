"""Interactions as Spark reads them (`training.INTERACTION_COLUMNS`), from wherever they are.

- the store on PostgreSQL: Spark's JDBC reader, split by row id over the executors, with the
  consent rule inside the SQL (`recsys.db.training_rows`), so no reader who may not contribute
  leaves the database;
- any other store (SQLite): a Parquet snapshot of the same rows, streamed out of the database in
  chunks (`write_store_snapshot`); it holds readers' histories, so the caller deletes it when
  the run ends;
- a pandas Dataset (a model's `fit(dataset)`): one Parquet file (`write_interactions`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.db.training_rows import row_id_bounds, training_statements
from recsys.engines.spark.training import INTERACTION_COLUMNS, SECONDS
from recsys.exceptions import EngineUnavailableError
from recsys.models.weighting import timestamps_seconds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SCHEMA = pa.schema(
    [
        (C.READER_ID, pa.string()),
        (C.BOOK_ID, pa.string()),
        (C.EVENT, pa.string()),
        (SECONDS, pa.float64()),
        (C.LIBRARY_ID, pa.string()),
    ]
)
SNAPSHOT_CHUNK_ROWS = 500_000
#: Rows per JDBC partition (each is one query and one Spark task).
JDBC_ROWS_PER_PARTITION = 2_000_000
JDBC_DRIVER = "org.postgresql.Driver"


def write_interactions(frame: pd.DataFrame, path: Path) -> Path:
    """A Dataset's interactions as one Parquet file in the folder `path` (returned)."""

    def text(column: str) -> pa.Array:
        if column not in frame:
            return pa.nulls(len(frame), pa.string())
        return pa.array(frame[column].astype("string"), pa.string(), from_pandas=True)

    seconds = (
        timestamps_seconds(frame[C.TIMESTAMP])
        if C.TIMESTAMP in frame
        else np.full(len(frame), np.nan)
    )
    table = pa.table(
        {
            C.READER_ID: text(C.READER_ID),
            C.BOOK_ID: text(C.BOOK_ID),
            C.EVENT: text(C.EVENT),
            SECONDS: pa.array(seconds, pa.float64(), from_pandas=True),
            C.LIBRARY_ID: text(C.LIBRARY_ID),
        },
        schema=SCHEMA,
    )
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path / "part-0.parquet")
    return path


def write_store_snapshot(engine: Engine, settings: Settings, path: Path) -> int:
    """Stream the store's training rows into Parquet files in the folder `path`; returns how
    many rows were written."""
    path.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, statement in training_statements(settings).items():
        with (
            pq.ParquetWriter(path / f"{name}.parquet", SCHEMA) as writer,
            engine.connect() as connection,
        ):
            result = connection.execution_options(stream_results=True).execute(statement)
            while rows := result.fetchmany(SNAPSHOT_CHUNK_ROWS):
                _, readers, books, events, seconds, libraries = zip(*rows, strict=True)
                writer.write_table(
                    pa.table(
                        [
                            pa.array(readers, pa.string()),
                            pa.array(books, pa.string()),
                            pa.array(events, pa.string()),
                            pa.array(seconds, pa.float64()),
                            pa.array(libraries, pa.string()),
                        ],
                        schema=SCHEMA,
                    )
                )
                written += len(rows)
    return written


def read_store(
    spark: SparkSession, settings: Settings, engine: Engine, snapshot: Path
) -> DataFrame:
    """The store's training rows as a Spark DataFrame: through JDBC from PostgreSQL, else from
    a Parquet snapshot written to the folder `snapshot` now."""
    if engine.dialect.name == "postgresql":
        return _read_jdbc(spark, settings, engine)
    write_store_snapshot(engine, settings, snapshot)
    return spark.read.schema(_spark_schema()).parquet(str(snapshot))


def _read_jdbc(spark: SparkSession, settings: Settings, engine: Engine) -> DataFrame:
    from pyspark.sql import functions as F

    if not settings.spark_jdbc_jar.is_file():
        raise EngineUnavailableError(
            "the spark engine reads PostgreSQL through its JDBC driver, which is not at "
            f"RECSYS_SPARK_JDBC_JAR={settings.spark_jdbc_jar}: install Debian's "
            "libpostgresql-jdbc-java (`bash .ci/java.sh` does) or point the setting at the jar"
        )
    url = make_url(settings.resolved_database_url)
    address = jdbc_address(url)
    frames = []
    for statement in training_statements(settings).values():
        bounds = row_id_bounds(engine, statement)
        if bounds is None:
            continue
        low, high = bounds
        sql = statement.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        reader = (
            spark.read.format("jdbc")
            .option("url", address)
            .option("driver", JDBC_DRIVER)
            .option("dbtable", f"({sql}) AS training_rows")
            .option("partitionColumn", "row_id")
            .option("lowerBound", str(low))
            .option("upperBound", str(high + 1))
            .option("numPartitions", str(max(1, (high - low) // JDBC_ROWS_PER_PARTITION + 1)))
            .option("fetchsize", "10000")
        )
        if url.username:
            reader = reader.option("user", url.username)
        if url.password:
            reader = reader.option("password", url.password)
        frame = reader.load()
        frames.append(
            frame.select(
                *(F.col(c).cast("string") for c in (C.READER_ID, C.BOOK_ID, C.EVENT)),
                F.col(SECONDS).cast("double"),
                F.col(C.LIBRARY_ID).cast("string"),
            )
        )
    if not frames:
        return spark.createDataFrame([], _spark_schema())
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    return combined.select(*INTERACTION_COLUMNS)


def jdbc_address(url: URL) -> str:
    """The JDBC URL of the PostgreSQL database `url` names, with its search path as the JDBC
    driver's current schema (credentials go separately, as options)."""
    address = f"jdbc:postgresql://{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    search_path = re.search(r"-c\s*search_path=(\S+)", str(url.query.get("options", "")))
    return f"{address}?currentSchema={search_path.group(1)}" if search_path else address


def _spark_schema() -> str:
    return ", ".join(
        f"{name} {'double' if name == SECONDS else 'string'}" for name in INTERACTION_COLUMNS
    )
