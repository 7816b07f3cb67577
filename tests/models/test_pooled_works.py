"""Co-borrowing and popularity pool the records of a work (issue 26): two editions of one work
are one item for every model, so a small edition gets its work's evidence, and the k rule counts
the distinct readers of the work (a reader of both editions once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.base import BORROWED_NEXT, BORROWED_TOO, CATALOG, Recommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.knn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender
from recsys.models.registry import load_model

K = 3
EDITIONS = ("E1", "E2", "E3")  # one work: E1 and E2 borrowed, E3 never
OTHERS = [f"B{i}" for i in range(6)]
READERS_SIGNALS = (BORROWED_NEXT, BORROWED_TOO)


def _catalog() -> pd.DataFrame:
    books = [*EDITIONS, *OTHERS]
    return pd.DataFrame(
        {
            C.BOOK_ID: books,
            C.TITLE: [f"Title {b}" for b in books],
            C.AUTHOR: ["Austen"] * 3 + [f"Author {i}" for i in range(len(OTHERS))],
            C.WORK_ID: ["W-emma"] * 3 + [None] * len(OTHERS),
        }
    )


def _dataset(loans: list[tuple[str, str]]) -> Dataset:
    frame = pd.DataFrame(loans, columns=[C.READER_ID, C.BOOK_ID])
    frame[C.EVENT] = "loan"
    frame[C.TIMESTAMP] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.arange(len(frame)), unit="min"
    )
    return Dataset.from_interactions(frame, _catalog())


def _base_loans() -> list[tuple[str, str]]:
    """Readers of the other books, so every model has a catalog to rank."""
    return [(f"x{r}", OTHERS[(r + j) % len(OTHERS)]) for r in range(12) for j in range(2)]


def _split_editions() -> list[tuple[str, str]]:
    """Two readers borrowed E1 and B0, two others E2 and B0: each edition has fewer than k
    readers with B0, the work has four distinct ones."""
    split = [("a1", "E1"), ("a2", "E1"), ("b1", "E2"), ("b2", "E2")]
    return [*_base_loans(), *split, *((reader, "B0") for reader, _ in split)]


def _item_knn() -> ItemKNNRecommender:
    return ItemKNNRecommender(min_pair_support=K, half_life_days=None)


def _hybrid() -> HybridRecommender:
    return HybridRecommender(factors=2, iterations=2, min_pair_support=K, random_state=0)


@pytest.mark.parametrize("make", [_item_knn, _hybrid], ids=["item_similarity", "hybrid"])
def test_editions_each_under_k_readers_share_their_works_k_readers(make: type) -> None:
    model = make().fit(_dataset(_split_editions()))
    for edition in EDITIONS:  # E3, never borrowed, gets its work's list too
        assert model.linked_by_readers(edition), edition
        similar = model.similar_books([edition], k=3)[C.SIMILAR_BOOK_ID].tolist()
        assert similar[0] == "B0", edition
        assert not set(similar) & set(EDITIONS), edition
        assert model.similar_signals(edition, ["B0"])[0] in READERS_SIGNALS
    # and the other way round: B0's page shows the work once
    shown = model.similar_books(["B0"], k=len(OTHERS) + 1)[C.SIMILAR_BOOK_ID].tolist()
    assert shown[0] in EDITIONS and len(set(shown) & set(EDITIONS)) == 1


BOTH = [("a1", "E1"), ("a1", "E2"), ("a2", "E1"), ("a1", "B0"), ("a2", "B0")]


@pytest.mark.parametrize("make", [_item_knn, _hybrid], ids=["item_similarity", "hybrid"])
def test_a_reader_of_both_editions_counts_once_toward_k(make: type) -> None:
    # three loans of the work with B0, but only two distinct readers: below k = 3
    model = make().fit(_dataset([*_base_loans(), *BOTH]))
    assert model._check_links()[model._columns(["E1"])[0]].nnz == 0
    # one more distinct reader reaches k
    model = make().fit(_dataset([*_base_loans(), *BOTH, ("a3", "E2"), ("a3", "B0")]))
    links = model._check_links()
    assert links[model._columns(["E1"])[0], model._columns(["B0"])[0]] == K


def test_no_served_signal_rests_on_a_reader_of_both_editions_counted_twice() -> None:
    model = _hybrid().fit(_dataset([*_base_loans(), *BOTH]))
    for edition in EDITIONS:
        similar = model.similar_books([edition], k=4)[C.SIMILAR_BOOK_ID].tolist()
        assert set(model.similar_signals(edition, [*similar, "B0"])) == {CATALOG}, edition


def test_popularity_counts_the_records_of_a_work_together() -> None:
    # B0: three readers; each edition two, the work four
    loans = [*((f"p{r}", "B0") for r in range(3)), ("q1", "E1"), ("q2", "E1")]
    loans += [("q3", "E2"), ("q4", "E2")]
    model = PopularityRecommender(half_life_days=None, per_library=False).fit(_dataset(loans))
    popularity = model.book_popularity(["E1", "E2", "E3", "B0"])
    assert popularity[:3] == pytest.approx([4.0, 4.0, 4.0]) and popularity[3] == 3.0
    top = model.popular(k=2)[C.BOOK_ID].tolist()
    assert top[0] in EDITIONS and top[1] == "B0"
    # a library holding only the never-borrowed edition still gets the work first
    held = model.popular(k=2, candidates=["E3", "B0"])[C.BOOK_ID].tolist()
    assert held == ["E3", "B0"]
    newcomer = model.recommend(["someone-new"], k=2)[C.BOOK_ID].tolist()
    assert newcomer[0] in EDITIONS and newcomer[1] == "B0"


def test_the_pooled_record_is_the_one_most_readers_borrowed() -> None:
    loans = [("q1", "E2"), ("q2", "E2"), ("q3", "E1"), ("q1", "B0")]
    model = PopularityRecommender(half_life_days=None, per_library=False).fit(_dataset(loans))
    assert sorted(model.training_books("q3")) == ["E2"]  # q3 borrowed E1: the work's record
    # the list pipeline shows the most borrowed record where nothing else chooses
    popularity = model.book_popularity(["E1", "E2", "E3"])
    assert popularity[1] > popularity[0] and popularity[1] > popularity[2]
    assert popularity[1] == pytest.approx(popularity[0]) == pytest.approx(popularity[2])


def test_a_readers_loan_of_any_edition_scores_as_the_work() -> None:
    model = _item_knn().fit(_dataset(_split_editions()))
    lists = [
        model.recommend(
            ["newcomer"],
            k=4,
            history=pd.DataFrame({C.READER_ID: ["newcomer"], C.BOOK_ID: [edition]}),
        )
        for edition in EDITIONS
    ]
    for frame in lists:
        assert frame[C.BOOK_ID].iloc[0] == "B0"
        assert not set(frame[C.BOOK_ID]) & set(EDITIONS)
    assert lists[0][C.SCORE].tolist() == lists[2][C.SCORE].tolist()


@pytest.mark.parametrize("make", [_item_knn, _hybrid], ids=["item_similarity", "hybrid"])
def test_a_saved_model_keeps_its_works_pooled(make: type, tmp_path: Path) -> None:
    model = make().fit(_dataset(_split_editions()))
    model.save(tmp_path)
    loaded: Recommender = load_model(tmp_path)
    for edition in EDITIONS:
        pd.testing.assert_frame_equal(
            loaded.similar_books([edition], k=4), model.similar_books([edition], k=4)
        )
    assert (
        loaded.book_popularity(list(EDITIONS)).tolist()
        == model.book_popularity(list(EDITIONS)).tolist()
    )


def _saved_with_a_column_per_record(folder: Path, loans: list[tuple[str, str]]) -> Recommender:
    """A model saved as bundles were before a model's columns were works: one column per
    record, the records of a work grouped only in `works`."""
    frame = _dataset(loans)
    apart = Dataset.from_interactions(frame.interactions, _catalog().assign(**{C.WORK_ID: None}))
    model = _item_knn().fit(apart)
    model.save(folder)
    for name in ("columns", "column_books"):
        (folder / "arrays" / f"{name}.npy").unlink()  # what such a bundle lacks
    works = np.load(folder / "arrays" / "works.npy")
    index = {book: i for i, book in enumerate(model.books_.ids.tolist())}
    works[[index[e] for e in EDITIONS]] = works[index["E1"]]
    np.save(folder / "arrays" / "works.npy", works)
    return model


def test_a_model_saved_before_works_were_pooled_keeps_its_records_apart(tmp_path: Path) -> None:
    model = _saved_with_a_column_per_record(tmp_path, _split_editions())
    loaded = load_model(tmp_path)
    books = loaded.books_.ids.tolist()
    assert loaded.book_popularity(books).tolist() == model.popularity_.tolist()
    assert not loaded.linked_by_readers("E3")  # its own record, which nobody borrowed
    # one edition per work in a list all the same
    shown = loaded.recommend(["newcomer"], k=len(books))[C.BOOK_ID].tolist()
    assert len(shown) == len(OTHERS) + 1 and len(set(shown) & set(EDITIONS)) == 1


def test_a_model_saved_when_works_were_first_pooled_scores_a_work_on_its_usual_record(
    tmp_path: Path,
) -> None:
    # then a work's data sat in its usual record's column (E1's), its other records' were empty
    usual = [(reader, "E1" if book in EDITIONS else book) for reader, book in _split_editions()]
    _saved_with_a_column_per_record(tmp_path, usual)
    books = load_model(tmp_path).books_.ids.tolist()
    np.save(
        tmp_path / "arrays" / "pooled.npy",
        np.asarray([books.index("E1") if b in EDITIONS else i for i, b in enumerate(books)]),
    )
    loaded = load_model(tmp_path)
    first = loaded.similar_books(["E1"], k=3)
    assert first[C.SIMILAR_BOOK_ID].iloc[0] == "B0"
    for edition in EDITIONS[1:]:
        assert loaded.linked_by_readers(edition)
        same = loaded.similar_books([edition], k=3)
        assert same[C.SIMILAR_BOOK_ID].tolist() == first[C.SIMILAR_BOOK_ID].tolist()
    # B0's page lists the work once, on its usual record
    shown = loaded.similar_books(["B0"], k=len(OTHERS) + 1)[C.SIMILAR_BOOK_ID].tolist()
    assert set(shown) & set(EDITIONS) == {"E1"}
