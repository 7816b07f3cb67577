"""Fixtures whose right answer is known: two reader groups reading two disjoint book blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset

BLOCK_SIZE = 10
READERS_PER_BLOCK = 20
START = pd.Timestamp("2024-03-01", tz="UTC")

#: Small, fast settings per registered model; two factors match the two blocks.
FAST_PARAMS: dict[str, dict[str, object]] = {
    "als": {"factors": 2, "iterations": 20, "random_state": 0},
    "als_default": {"factors": 2, "random_state": 0},
    "bpr": {"factors": 2, "iterations": 500, "learning_rate": 0.1, "random_state": 0},
    "knn": {},
    "ease": {"l2": 1.0},
    "rp3beta": {},
    "hybrid": {"factors": 2, "iterations": 20, "random_state": 0},
    "popularity": {},
    "content": {},
    "spark_als": {"factors": 2, "iterations": 5, "blocks": 1, "random_state": 0},
}
#: Models that train on Spark: their tests need the session-wide `spark` fixture.
SPARK_MODELS = frozenset({"spark_als"})


def block_books(block: str) -> list[str]:
    return [f"{block}{i}" for i in range(BLOCK_SIZE)]


def block_readers(block: str) -> list[str]:
    return [f"reader-{block}{i}" for i in range(READERS_PER_BLOCK)]


def checkerboard() -> Dataset:
    """Readers of block a borrow only a-books, readers of block b only b-books.

    Every reader borrows book 0 of their block and a random 60% of the rest; ``a0`` is borrowed by
    every a-reader and so is the most popular book. ``a0`` has a second edition ``a0-second``
    (same work) nobody borrowed, and ``a-new`` / ``b-new`` are catalogued but never borrowed.
    """
    rng = np.random.default_rng(7)
    rows = []
    for block in ("a", "b"):
        for reader in block_readers(block):
            books = [f"{block}0"] + [b for b in block_books(block)[1:] if rng.random() < 0.6]
            if block == "b":
                books = [b for b in books if b != "b0" or rng.random() < 0.5]
            for book in books:
                when = START + pd.Timedelta(hours=int(rng.integers(0, 240)))
                rows.append((reader, book, "loan", when, "main"))
    interactions = pd.DataFrame(
        rows, columns=["reader_id", "book_id", "event", "timestamp", "library_id"]
    )
    return Dataset.from_interactions(interactions, catalog())


def catalog() -> pd.DataFrame:
    topics = {
        "a": ("Astronomy; Telescopes", "Sagan, Carl", "stars and galaxies"),
        "b": ("Cooking; Baking", "Child, Julia", "bread and pastry"),
    }
    records = []
    for block, (subjects, author, title) in topics.items():
        for book in [*block_books(block), f"{block}-new"]:
            records.append(
                {
                    "book_id": book,
                    "title": f"{title} {book}",
                    "author": author,
                    "subjects": subjects,
                    "isbn": None,
                    "language": "en",
                    "audience": "adult",
                    "year": 2020,
                    "work_id": f"work-{book}",
                    "format": "book",
                }
            )
    records.append(
        {
            **records[0],
            "book_id": "a0-second",
            "title": "stars and galaxies 2nd ed",
            "work_id": "work-a0",
        }
    )
    return pd.DataFrame(records)


@pytest.fixture(autouse=True)
def _spark_for_spark_models(request: pytest.FixtureRequest) -> None:
    """A test parametrized with a Spark model gets the Spark session (or skips, saying why)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("name") in SPARK_MODELS:
        request.getfixturevalue("spark")


@pytest.fixture
def board() -> Dataset:
    return checkerboard()
