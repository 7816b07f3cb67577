"""A small dated library with branches, audiences and subjects, for evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset

START = pd.Timestamp("2024-01-01", tz="UTC")


def make_library(
    seed: int = 11, readers: int = 120, books: int = 80, loans: int = 2_400
) -> Dataset:
    """Readers in two taste groups (books 0-39 vs 40-79), so a collaborative model can learn."""
    rng = np.random.default_rng(seed)
    reader_ids = rng.integers(0, readers, loans)
    group = reader_ids % 2
    book_ids = group * (books // 2) + rng.integers(0, books // 2, loans)
    frame = pd.DataFrame(
        {
            C.READER_ID: [f"r{r:03d}" for r in reader_ids],
            C.BOOK_ID: [f"b{b:03d}" for b in book_ids],
            C.EVENT: rng.choice(["loan", "loan", "loan", "view"], loans),
            C.TIMESTAMP: START + pd.to_timedelta(rng.integers(0, 200 * 86_400, loans), unit="s"),
            C.LIBRARY_ID: np.where(reader_ids % 3 == 0, "north", "south"),
        }
    )
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: [f"b{b:03d}" for b in range(books)],
            C.TITLE: [f"Title {b}" for b in range(books)],
            C.AUTHOR: [f"Author {b % 13}" for b in range(books)],
            C.SUBJECTS: [f"Topic {b % 5}; Topic {b % 7}" if b % 9 else None for b in range(books)],
            C.AUDIENCE: np.where(np.arange(books) < books // 2, "adult", "children"),
        }
    )
    return Dataset.from_interactions(frame, catalog=catalog)


@pytest.fixture
def library() -> Dataset:
    return make_library()
