"""The catalog's records in a bundle (`recsys.lists.records`): the nightly writes them with the
lists, the service maps them instead of reading and cleaning the snapshots, and what it serves
is the same either way; a bundle saved before still loads from its snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import artifacts
from recsys.array_files import MAP_BYTES, load_arrays, save_arrays
from recsys.columns import Columns as C
from recsys.curation.rules import no_rules
from recsys.exceptions import RecsysError
from recsys.lists.catalog import CatalogIndex, ListFilters
from recsys.lists.pipeline import book_list
from recsys.lists.query import ListQuery
from recsys.lists.records import PREFIX, CatalogRecords
from recsys.lists.served import ServedModel, build_served, served_lists
from recsys.lists.text_column import TextColumn
from recsys.service.model_store import ModelStore
from tests.service.service_library import (
    PSEUDONYM_KEY,
    build_catalog,
    build_holdings,
    build_loans,
    fit_model,
)

#: Texts a column must give back as they were: missing, empty, accented, non-Latin, emoji.
TEXTS = [None, "Admirable", "", "Éloge de l'ombre", None, "Война и мир", "🙂 ok", None]


@pytest.mark.parametrize("texts", [TEXTS, ["b1", None, "b22", ""], [None], []])
def test_a_text_column_gives_back_every_text_and_every_missing_one(
    tmp_path: Path, texts: list[str | None]
) -> None:
    column = TextColumn.of(texts)
    save_arrays(tmp_path, column.arrays("c"))
    loaded = TextColumn.from_arrays(load_arrays(tmp_path), "c")
    assert loaded is not None
    for read in (column, loaded):
        assert read.tolist() == list(read) == texts
        assert [read[i] for i in range(len(texts))] == texts
        assert list(read.present()) == [(i, t) for i, t in enumerate(texts) if t is not None]
    if texts:
        assert column[-1] == texts[-1] and column[1:3] == texts[1:3]
    assert TextColumn.from_arrays(load_arrays(tmp_path), "other") is None


def test_a_large_text_column_is_read_from_its_map(tmp_path: Path) -> None:
    texts = [f"Title number {n} : roman" if n % 7 else None for n in range(MAP_BYTES // 8)]
    save_arrays(tmp_path, TextColumn.of(texts).arrays("titles"))
    arrays = load_arrays(tmp_path)
    assert not arrays["titles.bytes"].flags.owndata  # a view of the mapped file
    loaded = TextColumn.from_arrays(arrays, "titles")
    assert loaded is not None and loaded.tolist() == texts and loaded[5000] == texts[5000]


def _catalog() -> pd.DataFrame:
    """The service tests' catalog with series (one by another author), headings in several
    cases and spellings, a language and an audience written two ways, and a repeated id."""
    extra = pd.DataFrame(
        [
            {C.BOOK_ID: "W1", C.TITLE: "Still waters /", C.AUTHOR: "Ann, Author, 1950-",
             C.SERIES: "Waters\t1", C.SUBJECTS: "Fantasy; Rivers", C.LANGUAGE: "ENG "},
            {C.BOOK_ID: "W2", C.TITLE: "Running waters :", C.AUTHOR: "Ann, Author",
             C.SERIES: "Waters ;\tvol. 2", C.SUBJECTS: "rivers", C.AUDIENCE: "Adult"},
            {C.BOOK_ID: "W3", C.TITLE: "Deep waters", C.AUTHOR: "Ann, Author",
             C.SERIES: "Waters\t3\nOther saga\t1", C.SUBJECTS: None},
            {C.BOOK_ID: "BO2", C.TITLE: "Other waters", C.AUTHOR: "Bo, Author",
             C.SERIES: "Waters\t2", C.SUBJECTS: "Rivers ; Fantasy", C.FORMAT: "kit"},
            {C.BOOK_ID: "W1", C.TITLE: "A second row of W1", C.AUTHOR: "Nobody"},
        ]
    )  # fmt: skip
    return pd.concat([build_catalog(), extra], ignore_index=True)


def _holdings(catalog: pd.DataFrame) -> pd.DataFrame:
    """Holdings with an unknown count, a branch holding nothing the catalog has, and a book
    the catalog does not have."""
    holdings = build_holdings(catalog.drop_duplicates(C.BOOK_ID))
    holdings.loc[holdings.index[:3], C.COPIES] = None
    odd = pd.DataFrame(
        [
            {C.BOOK_ID: "not-in-catalog", C.LIBRARY_ID: "ELSEWHERE", C.COPIES: 2},
            {C.BOOK_ID: "W2", C.LIBRARY_ID: "BRANCH2", C.COPIES: 4, C.AVAILABLE: 3},
        ]
    )
    return pd.concat([holdings, odd], ignore_index=True)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same model and catalog saved as the nightly does (lists with the records), with
    lists saved before bundles carried records, and with no lists at all."""
    catalog = _catalog()
    holdings = _holdings(catalog)
    model = fit_model(build_loans(), catalog.drop_duplicates(C.BOOK_ID), holdings, PSEUDONYM_KEY)
    lists = served_lists(model, catalog, holdings)
    older = {name: a for name, a in lists.items() if not name.startswith(PREFIX)}
    root = tmp_path_factory.mktemp("models")
    return {
        name: artifacts.save_bundle(
            root,
            artifacts.new_run_id(),
            model,
            catalog=catalog,
            holdings=holdings,
            erasures_applied=0,
            lists=carried,
        )
        for name, carried in (("nightly", lists), ("older", older), ("none", None))
    }


def _served_by_the_service(path: Path) -> ServedModel:
    artifacts.publish(path.parent.parent, path.name, latest_erasure=0)
    store = ModelStore(path.parent.parent, None, min_readers=2)
    assert store.refresh().outcome == "swapped"
    assert store.served is not None
    return store.served


def test_the_nightly_bundle_carries_the_records_and_older_ones_do_not(
    bundles: dict[str, Path],
) -> None:
    assert CatalogRecords.saved_in(bundles["nightly"] / artifacts.LISTS_DIR)
    assert not CatalogRecords.saved_in(bundles["older"] / artifacts.LISTS_DIR)
    assert not CatalogRecords.saved_in(bundles["none"] / artifacts.LISTS_DIR)
    without = artifacts.load_bundle(bundles["nightly"], latest_erasure=0, snapshots=False)
    assert without.catalog.empty and without.holdings.empty
    assert set(artifacts.CATALOG_COLUMNS) <= set(without.catalog.columns)


def test_the_records_a_bundle_carries_serve_what_its_snapshots_would(
    bundles: dict[str, Path],
) -> None:
    mapped = _served_by_the_service(bundles["nightly"])
    for name in ("older", "none"):
        made = _served_by_the_service(bundles[name])
        _assert_same_catalog(mapped.catalog, made.catalog)
        for position in range(len(made.catalog)):
            assert mapped.subject_positions(position).tolist() == (
                made.subject_positions(position).tolist()
            )
        for book in ("W1", "W2", "BO2", made.catalog.book_ids[0]):
            query = ListQuery(k=6)
            rules = no_rules(len(made.catalog))
            shown, expected = (
                book_list(served, rules, book_id=book, query=query) for served in (mapped, made)
            )
            assert shown.positions.tolist() == expected.positions.tolist()
            assert shown.reasons == expected.reasons


def _assert_same_catalog(index: CatalogIndex, expected: CatalogIndex) -> None:
    assert index.book_ids.tolist() == expected.book_ids.tolist()
    assert index.position == expected.position and len(index) == len(expected) == 31
    for column in ("titles", "authors", "subjects"):
        assert getattr(index, column).tolist() == getattr(expected, column).tolist()
    assert index.titles[index.position["W1"]] == "Still waters"
    assert index.authors[index.position["W1"]] == "Ann, Author"
    assert index.works.tolist() == expected.works.tolist()
    assert index.subject_books.keys() == expected.subject_books.keys() >= {"rivers", "fantasy"}
    assert index.subject_books["rivers"].tolist() == expected.subject_books["rivers"].tolist()
    assert len(index.subject_books["rivers"]) == 3
    assert index.libraries == expected.libraries
    assert "ELSEWHERE" not in index.libraries  # it holds nothing the catalog has
    for position in range(len(index)):
        volumes, wanted = index.series.volumes(position), expected.series.volumes(position)
        assert volumes.following.tolist() == wanted.following.tolist()
        assert volumes.others.tolist() == wanted.others.tolist()
    w1 = index.series.volumes(index.position["W1"])
    assert index.book_ids[w1.following].tolist() == ["W2"]
    assert index.book_ids[w1.others].tolist() == ["W3"]  # not Bo's "Waters"
    all_positions = np.arange(len(index))
    for library in (*sorted(index.libraries), None):
        assert index.availability(all_positions, library) == (
            expected.availability(all_positions, library)
        )
        for copies in (1, 3):
            assert index.lendable_to_group(copies, library).tolist() == (
                expected.lendable_to_group(copies, library).tolist()
            )
    for filters in (
        ListFilters(language="eng"),
        ListFilters(audience="ADULT", format="book"),
        ListFilters(library="BRANCH2", available_only=True),
        ListFilters(library=sorted(index.libraries)[0], exclude=("W1",)),
    ):
        assert index.eligible(filters).tolist() == expected.eligible(filters).tolist()
    assert index.eligible(ListFilters(language="eng"))[index.position["W1"]]  # "ENG " folds


def test_records_made_for_another_catalog_refuse_the_bundle(
    tmp_path: Path, bundles: dict[str, Path]
) -> None:
    """Lists and records are written together: records that do not match the lists' catalog
    mean a bundle put together wrongly, which must not be served."""
    bundle = artifacts.load_bundle(bundles["nightly"], latest_erasure=0)
    reversed_catalog = bundle.catalog.iloc[::-1].reset_index(drop=True)
    others = CatalogRecords.of(reversed_catalog, bundle.holdings).arrays()
    lists = {**bundle.lists, **others}
    path = artifacts.save_bundle(
        tmp_path,
        artifacts.new_run_id(),
        bundle.model,
        catalog=bundle.catalog,
        holdings=bundle.holdings,
        erasures_applied=0,
        lists=lists,
    )
    with pytest.raises(RecsysError, match="records do not match its lists"):
        build_served(artifacts.load_bundle(path, latest_erasure=0), None, min_readers=2)
