"""Reads and deletes of the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from recsys.config import Settings
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db import queries
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.db.tables import catalog, holdings, loans, views

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01 00:00:00 UTC


@pytest.fixture(name="stored")
def stored_fixture(engine: Engine) -> Engine:
    return stored(engine)


def stored(engine: Engine) -> Engine:
    """Four loans, two views (one anonymous), two catalog records and one holding."""
    with engine.begin() as connection:
        connection.execute(
            insert(loans),
            [
                {
                    "reader_id": "r1",
                    "book_id": "b1",
                    "borrowed_at": T0,
                    "event": "loan",
                    "library_id": "L1",
                },
                {
                    "reader_id": "r1",
                    "book_id": "b2",
                    "borrowed_at": T0 + DAY + 5,
                    "event": "renewal",
                    "library_id": None,
                },
                {
                    "reader_id": "r2",
                    "book_id": "b1",
                    "borrowed_at": T0 + DAY + 9,
                    "event": "hold",
                    "library_id": "L2",
                },
                {
                    "reader_id": "r2",
                    "book_id": "b3",
                    "borrowed_at": T0 + 3 * DAY,
                    "event": "loan",
                    "library_id": "L2",
                },
            ],
        )
        connection.execute(
            insert(views),
            [
                {"session_id": "s1", "book_id": "b3", "viewed_at": T0 + 2 * DAY, "reader_id": "r1"},
                {"session_id": "s2", "book_id": "b2", "viewed_at": T0 + 2 * DAY, "reader_id": None},
            ],
        )
        connection.execute(
            insert(catalog),
            [
                {"book_id": "b2", "title": "Two", "author": None, "audience": None, "year": 2001},
                {"book_id": "b1", "title": "One", "author": "A", "audience": "adult", "year": None},
            ],
        )
        connection.execute(
            insert(holdings),
            [
                {"book_id": "b1", "library_id": "L1", "copies": 2, "available": 1},
            ],
        )
    return engine


def test_load_dataset_has_loans_and_logged_in_views_with_utc_times(stored: Engine) -> None:
    dataset = queries.load_dataset(stored)
    frame = dataset.interactions.sort_values(["timestamp", "book_id"]).reset_index(drop=True)
    assert list(frame.columns) == ["reader_id", "book_id", "event", "timestamp", "library_id"]
    assert frame[["reader_id", "book_id", "event"]].values.tolist() == [
        ["r1", "b1", "loan"],
        ["r1", "b2", "renewal"],
        ["r2", "b1", "hold"],
        ["r1", "b3", "view"],
        ["r2", "b3", "loan"],
    ]
    assert frame["timestamp"].dt.tz is not None
    assert frame.loc[0, "timestamp"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert frame["library_id"].isna().tolist() == [False, True, False, True, False]
    assert dataset.catalog["book_id"].tolist() == ["b1", "b2"]
    assert dataset.catalog["year"].tolist()[1] == 2001
    assert dataset.holdings.values.tolist() == [["b1", "L1", 2, 1]]


def test_load_dataset_window_and_without_views(stored: Engine) -> None:
    window = queries.load_dataset(stored, since=T0 + DAY, until=T0 + 3 * DAY).interactions
    assert sorted(window["book_id"] + window["event"]) == ["b1hold", "b2renewal", "b3view"]
    loans_only = queries.load_dataset(stored, include_views=False).interactions
    assert "view" not in set(loans_only["event"]) and len(loans_only) == 4


def test_load_dataset_of_an_empty_store(engine: Engine) -> None:
    dataset = queries.load_dataset(engine)
    assert dataset.interactions.empty
    assert list(dataset.interactions.columns) == [
        "reader_id",
        "book_id",
        "event",
        "timestamp",
        "library_id",
    ]
    assert dataset.catalog.empty and dataset.holdings.empty


def test_reader_history_is_one_readers_events_oldest_first(stored: Engine) -> None:
    history = queries.reader_history(stored, reader_id="r1")
    assert list(history.columns) == ["book_id", "event", "timestamp"]
    assert history[["book_id", "event"]].values.tolist() == [
        ["b1", "loan"],
        ["b2", "renewal"],
        ["b3", "view"],
    ]
    assert str(history["timestamp"].dt.tz) == "UTC"
    assert queries.reader_history(stored, reader_id="nobody").empty


def test_counts_and_loans_per_day(stored: Engine) -> None:
    assert queries.count_loans(stored) == 4
    assert queries.count_loans(stored, since=T0 + DAY, until=T0 + 3 * DAY) == 2
    per_day = queries.loans_per_day(stored)
    assert per_day["loans"].tolist() == [1, 2, 1]
    assert per_day["day"].tolist() == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-02", tz="UTC"),
        pd.Timestamp("2024-01-04", tz="UTC"),
    ]
    assert queries.loans_per_day(stored, since=T0 + 2 * DAY)["loans"].tolist() == [1]


def test_retention_deletes_old_loans_and_views(stored: Engine) -> None:
    nothing_else = {"feedback": 0, "exclusions": 0}
    assert queries.delete_events_before(stored, cutoff=T0 + 2 * DAY) == {
        "loans": 3,
        "views": 0,
        **nothing_else,
    }
    assert queries.delete_events_before(stored, cutoff=T0 + 3 * DAY) == {
        "loans": 0,
        "views": 2,
        **nothing_else,
    }
    assert queries.count_loans(stored) == 1


def test_erasure_deletes_one_readers_loans_and_views(stored: Engine) -> None:
    with stored.begin() as connection:
        assert queries.delete_reader(connection, reader_id="r1") == {
            "loans": 2,
            "views": 1,
            "feedback": 0,
            "exclusions": 0,
            "categories": 0,
        }
    assert queries.reader_history(stored, reader_id="r1").empty
    assert len(queries.reader_history(stored, reader_id="r2")) == 2


def test_ping_answers(engine: Engine) -> None:
    queries.ping(engine)


def test_reader_history_uses_an_index(stored: Engine) -> None:
    if stored.dialect.name != "sqlite":
        pytest.skip("the query plan check reads SQLite's EXPLAIN QUERY PLAN")
    with stored.connect() as connection:
        for sql in (
            "SELECT book_id FROM loans WHERE reader_id = 'r1'",
            "SELECT book_id FROM views WHERE reader_id = 'r1'",
        ):
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


def test_rows_with_an_id_over_the_limit_are_counted_and_left_out_of_the_dataset(
    settings: Settings,
) -> None:
    """Only SQLite can hold them (PostgreSQL refuses ids longer than the column): rows an older
    version stored before ingest checked id lengths."""
    engine = make_engine(settings)
    upgrade(engine)
    stored(engine)
    long = "x" * (MAX_ID_LENGTH + 1)
    with engine.begin() as connection:
        for book, library in ((long, None), ("b1", long)):  # one insert per row: keys differ
            connection.execute(
                insert(loans).values(
                    reader_id="r3", book_id=book, borrowed_at=T0, event="loan", library_id=library
                )
            )
        connection.execute(
            insert(views).values(session_id="s3", book_id=long, viewed_at=T0, reader_id="r3")
        )
        connection.execute(insert(catalog).values(book_id=long, title="Long"))
        connection.execute(insert(catalog).values(book_id="b4", title="W", work_id=long))
        connection.execute(insert(holdings).values(book_id="b2", library_id=long))

    assert queries.count_overlong_ids(engine) == {
        "loans": 2,
        "views": 1,
        "catalog": 2,
        "holdings": 1,
    }
    dataset = queries.load_dataset(engine)
    assert "r3" not in set(dataset.interactions["reader_id"])
    assert len(dataset.interactions) == 5
    assert dataset.catalog["book_id"].tolist() == ["b1", "b2"]
    assert dataset.holdings["library_id"].tolist() == ["L1"]
    engine.dispose()
