"""A catalog page lists the other volumes of its book's series first: the next volume, then the
rest of the series, each with its reason; a series of the same name by another author is another
series, a book without series keeps its list, and a librarian's pin still wins (issue 28)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.curation.rules import BURY, PIN, CurationSet, Rule, no_rules
from recsys.lists.pipeline import CONTENT, RankedList, book_list
from recsys.lists.query import ListQuery
from recsys.lists.served import ServedModel, build_served
from tests.service.service_library import (
    PSEUDONYM_KEY,
    build_catalog,
    build_holdings,
    build_loans,
    fit_model,
)

K = 6
#: Volumes of "Waters" by Ann (listed out of order), one "Waters" by Bo, as MARC 490/830 give them.
VOLUMES = {
    "W3": ("Deep waters /", "Ann, Author", "Waters\t3"),
    "W1": ("Still waters /", "Ann, Author", "Waters\t1"),
    "W2": ("Running waters /", "Ann, Author", "Waters ;\tvol. 2"),
    "BO2": ("Other waters /", "Bo, Author", "Waters\t2"),
}


def _catalog() -> pd.DataFrame:
    rows = [
        {C.BOOK_ID: book, C.TITLE: title, C.AUTHOR: author, C.SUBJECTS: "Fantasy", C.SERIES: s}
        for book, (title, author, s) in VOLUMES.items()
    ]
    return pd.concat([build_catalog(), pd.DataFrame(rows)], ignore_index=True)


def _served(root: Path, catalog: pd.DataFrame, model_catalog: pd.DataFrame) -> ServedModel:
    holdings = build_holdings(catalog)
    model = fit_model(build_loans(), model_catalog, holdings, PSEUDONYM_KEY)
    path = artifacts.save_bundle(
        root, artifacts.new_run_id(), model, catalog=catalog, holdings=holdings, erasures_applied=0
    )
    return build_served(artifacts.load_bundle(path, latest_erasure=0), None, min_readers=2)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, ServedModel]:
    """One model served with the catalog's series (through the bundle's snapshot) and without."""
    catalog = _catalog()
    root = tmp_path_factory.mktemp("models")
    with_series = _served(root / "series", catalog, catalog)
    without = _served(root / "none", catalog.drop(columns=[C.SERIES]), catalog)
    return with_series, without


def _page(served: ServedModel, book: str, curation: CurationSet | None = None) -> RankedList:
    rules = curation if curation is not None else no_rules(len(served.catalog))
    return book_list(served, rules, book_id=book, query=ListQuery(k=K))


def _listed(served: ServedModel, ranked: RankedList) -> list[str]:
    return served.catalog.book_ids[ranked.positions].tolist()


def test_the_next_volume_leads_the_page_then_the_rest_of_the_series(
    pages: tuple[ServedModel, ServedModel],
) -> None:
    served, _ = pages
    first = _page(served, "W1")
    assert _listed(served, first)[:2] == ["W2", "W3"]
    assert first.reasons[:2] == [
        "next in the series after Still waters",
        "same series as Still waters",
    ]
    assert first.strategy == CONTENT  # nobody borrowed the series: the catalog links it
    second = _page(served, "W2")  # the next volume, then the earlier one
    assert _listed(served, second)[:2] == ["W3", "W1"]
    assert second.reasons[0] == "next in the series after Running waters"
    last = _page(served, "W3")  # no next volume: the rest of the series, in order
    assert _listed(served, last)[:2] == ["W1", "W2"]
    assert last.reasons[:2] == ["same series as Deep waters"] * 2


def test_a_series_takes_at_most_half_the_page(pages: tuple[ServedModel, ServedModel]) -> None:
    served, _ = pages
    page = book_list(served, no_rules(len(served.catalog)), book_id="W1", query=ListQuery(k=2))
    assert _listed(served, page)[0] == "W2"
    series_reasons = [r for r in page.reasons if "series" in r]
    assert series_reasons == ["next in the series after Still waters"]


def test_a_series_of_the_same_name_by_another_author_is_not_linked(
    pages: tuple[ServedModel, ServedModel],
) -> None:
    served, _ = pages
    for book in ("W1", "W2", "W3"):
        page = _page(served, book)
        reasons = dict(zip(_listed(served, page), page.reasons, strict=True))
        assert "series" not in reasons.get("BO2", "")
    other = _page(served, "BO2")
    assert not any("series" in reason for reason in other.reasons)


def test_a_book_without_series_keeps_its_list(pages: tuple[ServedModel, ServedModel]) -> None:
    served, without = pages
    for book in ("B000", "B105", "NEW1"):
        page, before = _page(served, book), _page(without, book)
        assert _listed(served, page) == _listed(without, before) and len(page.positions) == K
        assert page.reasons == before.reasons and page.strategy == before.strategy
    # a catalog without series columns lists no volume anywhere
    assert not any("series" in reason for reason in _page(without, "W1").reasons)


def test_a_librarians_pin_or_bury_outranks_the_series(
    pages: tuple[ServedModel, ServedModel],
) -> None:
    served, _ = pages
    catalog = served.catalog
    rules = [
        Rule(id=1, kind=PIN, book_id="B300", anchor_id="W1", position=1, reason="pick"),
        Rule(id=2, kind=BURY, book_id="W2", factor=0.001),
    ]
    curation = CurationSet(rules, catalog.position, len(catalog), store_version=1, now=0.0)
    page = _listed(served, _page(served, "W1", curation))
    assert page[:2] == ["B300", "W3"]  # the pin takes its slot; the buried next volume sinks
    assert "W2" not in page[:3]
