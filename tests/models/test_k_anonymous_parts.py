"""Each collaborative part of the default model rests on at least k distinct readers (issue 20,
item 1), checked against counts made by hand over random histories: borrowing in order, reader
neighbours, and ALS factors of rarely borrowed books. The issue's own case closes the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.models.hybrid import HybridRecommender
from recsys.models.matrix import keep_columns
from recsys.models.registry import default_model

START = pd.Timestamp("2024-01-01", tz="UTC")
# (reader, book, day): twelve readers, eight books, days that may tie
loans = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 7), st.integers(0, 20)), min_size=6, max_size=70
)


def _dataset(rows: list[tuple[int, int, int]]) -> Dataset:
    return Dataset.from_interactions(
        pd.DataFrame(
            {
                C.READER_ID: [f"r{r}" for r, _, _ in rows],
                C.BOOK_ID: [f"b{b}" for _, b, _ in rows],
                C.EVENT: "loan",
                C.TIMESTAMP: [START + pd.Timedelta(days=d) for _, _, d in rows],
            }
        )
    )


def _first_loans(rows: list[tuple[int, int, int]]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per reader, each book's first loan as (day, position of the book in the model)."""
    first: dict[str, dict[str, tuple[int, int]]] = {}
    for reader, book, day in rows:
        mine = first.setdefault(f"r{reader}", {})
        mine[f"b{book}"] = min(mine.get(f"b{book}", (day, book)), (day, book))
    return first


def _fit(rows: list[tuple[int, int, int]], k: int) -> HybridRecommender:
    model = HybridRecommender(
        factors=2, iterations=2, min_pair_support=k, sequence_window=None, random_state=0
    )
    return model.fit(_dataset(rows))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=loans, k=st.integers(2, 4))
def test_a_sequence_link_exists_exactly_when_k_readers_borrowed_in_that_order(
    rows: list[tuple[int, int, int]], k: int
) -> None:
    model = _fit(rows, k)
    first = _first_loans(rows)
    ids = model.books_.ids.tolist()
    position = {book: int(i) for i, book in enumerate(ids)}
    for earlier in ids:
        for later in ids:
            if earlier == later:
                continue
            # a reader's books are ordered by first loan, then by the model's book order
            readers = sum(
                1
                for books in first.values()
                if earlier in books
                and later in books
                and (books[earlier][0], position[earlier]) < (books[later][0], position[later])
            )
            linked = model.sequence_[position[earlier], position[later]] > 0
            assert linked == (readers >= k), (earlier, later, readers, k)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=loans, k=st.integers(2, 4))
def test_reader_neighbours_score_only_books_k_of_them_borrowed(
    rows: list[tuple[int, int, int]], k: int
) -> None:
    model = _fit(rows, k)  # 200 neighbours: every reader who shares a book is one
    first = _first_loans(rows)
    readers_of = {b: {r for r, books in first.items() if b in books} for b in model.books_.ids}
    supported = {b for b, readers in readers_of.items() if len(readers) >= k}
    for reader, books in first.items():
        _, rows_matrix, _ = model.reader_rows([reader], None)
        scores = model._reader_neighbour_scores(keep_columns(rows_matrix, model.supported_))[0]
        neighbours = {
            other for other, theirs in first.items() if set(theirs) & set(books) & supported
        }
        for position, book in enumerate(model.books_.ids.tolist()):
            evidence = len(neighbours & readers_of[book]) if book in supported else 0
            assert (scores[position] > 0) == (evidence >= k), (reader, book, evidence, k)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=loans, k=st.integers(2, 4))
def test_books_fewer_than_k_readers_borrowed_have_no_factors(
    rows: list[tuple[int, int, int]], k: int
) -> None:
    model = _fit(rows, k)
    readers = np.diff(model.matrix_.tocsc().indptr)
    rare = readers < k
    assert not model.als_.item_factors[rare].any()
    assert (np.abs(model.als_.item_factors[~rare]).sum(axis=1) > 0).all()


def test_two_new_books_borrowed_together_by_one_reader_are_not_linked_for_another() -> None:
    """The issue's case: a reader borrows two new books together; a second reader who then
    borrows the first must not be offered the second (the default model, as served)."""
    rng = np.random.default_rng(3)
    rows = []
    for reader in range(60):  # a library of 30 well-borrowed books
        for book in rng.choice(30, size=6, replace=False):
            rows.append((f"r{reader}", f"b{book}", int(rng.integers(0, 200))))
    rows += [("secret", "b3", 150), ("secret", "new-first", 210), ("secret", "new-second", 211)]
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: [*(f"b{i}" for i in range(30)), "new-first", "new-second"],
            C.TITLE: [*(f"Title {i}" for i in range(30)), "Ornithology", "Tax law"],
            C.SUBJECTS: [*("Fiction" for _ in range(30)), "Birds", "Taxation"],
        }
    )
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, "day"])
    frame[C.EVENT] = "loan"
    frame[C.TIMESTAMP] = START + pd.to_timedelta(frame.pop("day"), unit="D")
    model = default_model(Settings(_env_file=None, min_pair_support=3, seed=1))
    model.set_params(factors=8, iterations=5).fit(Dataset.from_interactions(frame, catalog))
    newer = pd.DataFrame(
        {
            C.READER_ID: ["probe"],
            C.BOOK_ID: ["new-first"],
            C.EVENT: "loan",
            C.TIMESTAMP: START + pd.Timedelta(days=220),
        }
    )
    listed = model.recommend(["probe"], k=10, history=newer)[C.BOOK_ID].tolist()
    assert len(listed) == 10
    assert "new-second" not in listed
