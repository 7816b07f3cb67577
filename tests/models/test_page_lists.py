"""The hybrid's per-book list (a catalog page's "readers who borrowed this also borrowed"):
books borrowed next lead books borrowed before, and catalog neighbours complete a list that
few readers link (issue 28)."""

from __future__ import annotations

import pandas as pd

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.base import BORROWED_NEXT, BORROWED_TOO, CATALOG
from recsys.models.hybrid import HybridRecommender

START = pd.Timestamp("2024-01-01", tz="UTC")


def _library(rows: list[tuple[str, str, int]], subjects: dict[str, str]) -> Dataset:
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, "day"])
    frame[C.EVENT] = "loan"
    frame[C.TIMESTAMP] = START + pd.to_timedelta(frame.pop("day"), unit="D")
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: list(subjects),
            C.TITLE: [f"Title {b}" for b in subjects],
            C.SUBJECTS: list(subjects.values()),
        }
    )
    return Dataset.from_interactions(frame, catalog)


def _model() -> HybridRecommender:
    return HybridRecommender(factors=4, iterations=2, min_pair_support=3, random_state=0)


def test_books_borrowed_next_lead_books_borrowed_before() -> None:
    rows = []
    for r in range(4):  # as many readers borrowed BEFORE ahead of PAGE as NEXT after it
        rows += [(f"a{r}", "BEFORE", r), (f"a{r}", "PAGE", 10 + r)]
        rows += [(f"b{r}", "PAGE", r), (f"b{r}", "NEXT", 10 + r)]
    subjects = {"PAGE": "Rivers", "BEFORE": "Rivers", "NEXT": "Rivers"}
    model = _model().fit(_library(rows, subjects))
    listed = model.similar_books(["PAGE"], k=2)[C.SIMILAR_BOOK_ID].tolist()
    assert listed == ["NEXT", "BEFORE"]
    assert model.similar_signals("PAGE", listed) == [BORROWED_NEXT, BORROWED_TOO]


def test_catalog_neighbours_complete_a_list_few_readers_link() -> None:
    rows = [(f"r{r}", book, r + 5 * i) for r in range(3) for i, book in enumerate(["PAGE", "L"])]
    rows += [("solo", "PAGE", 40), ("solo", "ONE_READER", 41)]  # linked by one reader only
    subjects = {
        "PAGE": "Rivers; Lakes",
        "L": "Deserts",
        "ONE_READER": "Mountains",
        "SAME_SUBJECTS": "Rivers; Lakes",
        "OTHER": "Deserts",
    }
    model = _model().fit(_library(rows, subjects))
    listed = model.similar_books(["PAGE"], k=4)[C.SIMILAR_BOOK_ID].tolist()
    # the linked book first, then the book like it; never the one reader's other book
    assert listed[:2] == ["L", "SAME_SUBJECTS"]
    assert "ONE_READER" not in listed
    assert model.similar_signals("PAGE", listed[:2]) == [BORROWED_NEXT, CATALOG]
