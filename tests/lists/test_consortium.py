"""Lists for consortium members: a member's own titles first, then the other members', each
marked ``availability: local | consortium`` in every kind of list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.consortium import MANIFEST_KEY
from recsys.curation.rules import no_rules
from recsys.data.dataset import Dataset
from recsys.lists import pipeline
from recsys.lists.catalog import ListFilters
from recsys.lists.history import LoanHistory
from recsys.lists.query import ListQuery
from recsys.lists.render import items
from recsys.lists.served import ServedModel, build_served
from recsys.models.popularity import PopularityRecommender

NORTH_ONLY = [f"N{i}" for i in range(4)]
SOUTH_ONLY = [f"S{i}" for i in range(4)]
BOTH = [f"B{i}" for i in range(4)]
BOOKS = [*NORTH_ONLY, *SOUTH_ONLY, *BOTH]
START = pd.Timestamp("2026-01-05", tz="UTC")
DAY = 86_400


def _holdings() -> pd.DataFrame:
    rows = [(b, "north") for b in [*NORTH_ONLY, *BOTH]] + [
        (b, "south") for b in [*SOUTH_ONLY, *BOTH]
    ]
    return pd.DataFrame(rows, columns=[C.BOOK_ID, C.LIBRARY_ID]).assign(copies=1, available=1)


def _dataset() -> Dataset:
    """South's titles are the most borrowed, then the shared ones, then north's."""
    readers_per_book = {
        **dict.fromkeys(SOUTH_ONLY, 9),
        **dict.fromkeys(BOTH, 6),
        **dict.fromkeys(NORTH_ONLY, 3),
    }
    rows = [
        (f"reader-{book}-{r}", book, "loan", START + pd.Timedelta(days=r), "south")
        for book, count in readers_per_book.items()
        for r in range(count)
    ]
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.EVENT, C.TIMESTAMP, C.LIBRARY_ID])
    catalog = pd.DataFrame(
        {C.BOOK_ID: BOOKS, C.TITLE: [f"Title {b}" for b in BOOKS], C.SUBJECTS: "Rivers"}
    )
    return Dataset.from_interactions(frame, catalog, _holdings())


def _served(tmp: Path, *, consortium: bool) -> ServedModel:
    data = _dataset()
    model = PopularityRecommender(half_life_days=None).fit(data)
    manifest = {MANIFEST_KEY: {"members": ["north", "south"]}} if consortium else {}
    bundle = Bundle("20260101T000000Z-0000", tmp, manifest, model, data.catalog, data.holdings)
    return build_served(bundle, None, min_readers=2)


def _rendered(served: ServedModel, ranked: pipeline.RankedList) -> list[tuple[str, str | None]]:
    return [(item["book_id"], item["availability"]) for item in items(served, ranked)]


def test_a_members_list_holds_its_own_titles_first_then_the_other_members(tmp_path: Path) -> None:
    served = _served(tmp_path, consortium=True)
    query = ListQuery(ListFilters(library="north"), k=len(BOOKS))
    listed = _rendered(served, pipeline.popular_list(served, no_rules(len(BOOKS)), query=query))
    books = [book for book, _ in listed]
    # north's holdings by popularity (the shared titles are borrowed more), then south's
    assert books[:8] == [*BOTH, *NORTH_ONLY]
    assert books[8:] == SOUTH_ONLY
    assert [where for _, where in listed] == ["local"] * 8 + ["consortium"] * 4


def test_outside_a_consortium_a_librarys_list_holds_only_its_titles(tmp_path: Path) -> None:
    served = _served(tmp_path, consortium=False)
    query = ListQuery(ListFilters(library="north"), k=len(BOOKS))
    listed = _rendered(served, pipeline.popular_list(served, no_rules(len(BOOKS)), query=query))
    assert [book for book, _ in listed] == [*BOTH, *NORTH_ONLY]
    assert {where for _, where in listed} == {"local"}


def test_a_list_for_no_one_library_of_several_tells_no_availability(tmp_path: Path) -> None:
    served = _served(tmp_path, consortium=True)
    listed = _rendered(
        served, pipeline.popular_list(served, no_rules(len(BOOKS)), query=ListQuery(k=5))
    )
    assert [book for book, _ in listed] == [*SOUTH_ONLY, BOTH[0]]
    assert {where for _, where in listed} == {None}


def test_with_one_library_its_titles_are_local_whatever_the_list_names(tmp_path: Path) -> None:
    data = _dataset()
    holdings = pd.DataFrame({C.BOOK_ID: BOOKS[:-1], C.LIBRARY_ID: "central"})
    model = PopularityRecommender(half_life_days=None).fit(data)
    bundle = Bundle("20260101T000000Z-0000", tmp_path, {}, model, data.catalog, holdings)
    served = build_served(bundle, None, min_readers=2)
    listed = _rendered(
        served, pipeline.popular_list(served, no_rules(len(BOOKS)), query=ListQuery(k=len(BOOKS)))
    )
    availability = dict(listed)
    assert availability.pop(BOOKS[-1]) is None  # nobody holds it
    assert set(availability.values()) == {"local"}


@pytest.mark.parametrize(
    "kind", ["reader", "fold-in", "non-personal", "book", "session", "popular", "group"]
)
def test_every_kind_of_list_marks_availability_for_the_member(tmp_path: Path, kind: str) -> None:
    served = _served(tmp_path, consortium=True)
    rules = no_rules(len(BOOKS))
    query = ListQuery(ListFilters(library="north"), k=6)
    reader = f"reader-{SOUTH_ONLY[0]}-0"
    history = LoanHistory([SOUTH_ONLY[0]], ["loan"], np.array([START.timestamp()]))
    newer = LoanHistory([SOUTH_ONLY[1]], ["loan"], np.array([START.timestamp() + 400 * DAY]))
    make = {
        "reader": lambda: pipeline.reader_list(
            served, rules, reader=reader, history=history, query=query
        ),
        "fold-in": lambda: pipeline.reader_list(
            served, rules, reader="newcomer", history=newer, query=query
        ),
        "non-personal": lambda: pipeline.non_personal_list(served, rules, query=query),
        "book": lambda: pipeline.book_list(served, rules, book_id=BOTH[0], query=query),
        "session": lambda: pipeline.session_list(served, rules, viewed=[BOTH[1]], query=query),
        "popular": lambda: pipeline.popular_list(served, rules, query=query),
        "group": lambda: pipeline.group_list(
            served, rules, members=[(reader, history)], past_reads=[], query=query
        ),
    }
    listed = _rendered(served, make[kind]())
    assert len(listed) == 6
    held_by_north = set(NORTH_ONLY) | set(BOTH)
    expected = ["local" if book in held_by_north else "consortium" for book, _ in listed]
    assert [where for _, where in listed] == expected
    # the member's own titles come first
    local = np.array([where == "local" for _, where in listed])
    assert not (~local[:-1] & local[1:]).any()
