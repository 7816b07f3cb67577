"""Popular lists pool the records of a work: each record with at least k readers adds its
readers to its work, and every record of the work ranks with the sum."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from recsys.columns import Columns as C
from recsys.lists.catalog import CatalogIndex
from recsys.lists.popular import OVERALL, _reader_counts
from tests.lists.test_popular_files import borrow


def test_editions_add_up_and_a_record_under_k_adds_nothing(engine: Engine) -> None:
    catalog = CatalogIndex(
        pd.DataFrame(
            {
                C.BOOK_ID: ["A1", "A2", "A3", "C"],
                C.WORK_ID: ["w-a", "w-a", "w-a", None],
            }
        ),
        pd.DataFrame(columns=[C.BOOK_ID, C.LIBRARY_ID, C.COPIES, C.AVAILABLE]),
    )
    borrow(engine, {"A1": ["r1", "r2"], "A2": ["r3", "r4"], "A3": ["r5"], "C": ["r6", "r7", "r8"]})
    counts = _reader_counts(engine, catalog, min_readers=2)[("all", OVERALL)]
    by_book = dict(zip(catalog.book_ids, counts, strict=True))
    # A1 and A2 have two readers each; A3's one reader is under k and adds nothing
    assert by_book == {"A1": 4.0, "A2": 4.0, "A3": 4.0, "C": 3.0}
