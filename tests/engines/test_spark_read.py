"""What the Spark engine reads from the store: loans, logged-in views and readers' feedback, with
the readers' choices applied (a Parquet snapshot of SQLite; PostgreSQL through JDBC)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, insert

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.config import Settings
from recsys.consent import load_training_dataset, set_consent
from recsys.db.tables import loans, reader_exclusions, reader_feedback, views
from recsys.engines.spark.frames import read_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

T0 = 1_704_067_200


def test_the_store_reaches_spark_as_the_loader_reads_it(
    spark: SparkSession, db_settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(loans),
            [
                {
                    "reader_id": r,
                    "book_id": b,
                    "borrowed_at": T0 + i,
                    "event": "loan",
                    "library_id": "L1",
                }
                for i, (r, b) in enumerate([("r1", "b1"), ("r1", "b2"), ("r2", "b1"), ("r3", "b3")])
            ],
        )
        connection.execute(
            insert(views),
            [{"session_id": "s1", "reader_id": "r2", "book_id": "b3", "viewed_at": T0 + 9}],
        )
        connection.execute(
            insert(reader_feedback),
            [
                {"reader_id": "r1", "book_id": "b3", "kind": Feedback.LIKED, "given_at": T0 + 5},
                {
                    "reader_id": "r2",
                    "book_id": "b2",
                    "kind": Feedback.ALREADY_READ,
                    "given_at": T0 + 6,
                },
                {
                    "reader_id": "r2",
                    "book_id": "b1",
                    "kind": Feedback.NOT_INTERESTED,
                    "given_at": T0 + 7,
                },
                {"reader_id": "r3", "book_id": "b1", "kind": Feedback.LIKED, "given_at": T0 + 8},
                {"reader_id": "r1", "book_id": "b4", "kind": Feedback.LIKED, "given_at": T0 + 9},
            ],
        )
        connection.execute(
            insert(reader_exclusions), [{"reader_id": "r1", "book_id": "b4", "excluded_at": T0}]
        )
    set_consent(engine, reader_id="r3", consented=False)  # r3's rows train nothing

    read = read_store(spark, db_settings, engine, tmp_path / "snapshot").collect()
    found = {(row[C.READER_ID], row[C.BOOK_ID], row[C.EVENT]) for row in read}
    frame = load_training_dataset(engine, db_settings).interactions
    expected = set(zip(frame[C.READER_ID], frame[C.BOOK_ID], frame[C.EVENT], strict=True))
    assert found == expected
    assert ("r1", "b3", Feedback.LIKED) in found  # feedback reaches Spark
    assert ("r2", "b1", Feedback.NOT_INTERESTED) in found  # Spark's training drops the pair
    assert not any(reader == "r3" for reader, _, _ in found)  # objected
    assert ("r1", "b4", Feedback.LIKED) not in found  # excluded
