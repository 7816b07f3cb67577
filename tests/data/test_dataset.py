"""A Dataset's integer id codes decode to its ids, made once per Dataset, carried to its parts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset


def test_id_codes_decode_to_the_ids_and_are_made_once() -> None:
    frame = pd.DataFrame(
        {
            C.READER_ID: ["r2", "r1", "r2", None, "r3"],
            C.BOOK_ID: ["b9", "b9", "b1", "b1", None],
        }
    )
    dataset = Dataset(interactions=frame)
    codes = dataset.id_codes
    assert codes is dataset.id_codes
    assert codes.reader_ids.tolist() == ["r2", "r1", "r3"]  # first appearance, no missing id
    assert codes.book_ids.tolist() == ["b9", "b1"]
    assert codes.readers.tolist() == [0, 1, 0, -1, 2]
    assert codes.books.tolist() == [0, 0, 1, 1, -1]
    known = codes.readers >= 0
    assert np.array_equal(
        codes.reader_ids[codes.readers[known]], frame[C.READER_ID][known].to_numpy()
    )


def test_books_are_the_borrowed_then_the_catalogued_ones() -> None:
    frame = pd.DataFrame({C.READER_ID: ["r1", "r1", "r2"], C.BOOK_ID: ["b2", "b1", "b2"]})
    catalog = pd.DataFrame({C.BOOK_ID: ["b1", "b3"]})
    dataset = Dataset(interactions=frame, catalog=catalog)
    assert dataset.books.tolist() == ["b2", "b1", "b3"]
    assert dataset.readers.tolist() == ["r1", "r2"]


def test_a_part_keeps_the_codes_its_own_ids_would_get() -> None:
    frame = pd.DataFrame(
        {
            C.READER_ID: ["r2", "r1", "r2", None, "r3", "r4", "r1"],
            C.BOOK_ID: ["b9", "b9", "b1", "b1", None, "b7", "b8"],
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    dataset = Dataset(interactions=frame, catalog=pd.DataFrame({C.BOOK_ID: ["b1", "b5"]}))
    rows = np.array([1, 3, 4, 6])
    part = dataset.take(rows)
    expected = Dataset(interactions=frame.iloc[rows].reset_index(drop=True))
    assert part.interactions.equals(expected.interactions)
    assert part.catalog is dataset.catalog
    carried, own = part.id_codes, expected.id_codes
    assert carried.reader_ids.tolist() == own.reader_ids.tolist() == ["r1", "r3"]
    assert carried.book_ids.tolist() == own.book_ids.tolist() == ["b9", "b1", "b8"]
    assert carried.readers.tolist() == own.readers.tolist()
    assert carried.books.tolist() == own.books.tolist()
    assert part.books.tolist() == ["b9", "b1", "b8", "b5"]
