"""Catalog pages' lists measured on rolling cuts (issue 28): what each reader looks at, the
baselines' scores counted by hand, and NDCG of lists whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation import book_pages as B
from recsys.evaluation.rolling import rolling_cuts
from recsys.evaluation.splits import temporal_split
from recsys.models import book_neighbours as N
from recsys.models.hybrid import HybridRecommender
from recsys.models.matrix import IdMap
from tests.evaluation.conftest import make_library

START = pd.Timestamp("2024-01-01", tz="UTC")


def _loans(rows: list[tuple[str, str, int]], catalog: pd.DataFrame | None = None) -> Dataset:
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, "day"])
    frame[C.EVENT] = "loan"
    frame[C.TIMESTAMP] = START + pd.to_timedelta(frame.pop("day"), unit="D")
    books = sorted(frame[C.BOOK_ID].unique())
    if catalog is None:
        catalog = pd.DataFrame({C.BOOK_ID: books, C.TITLE: [f"Title {b}" for b in books]})
    return Dataset.from_interactions(frame, catalog)


def _course_library(pairs: int = 6, readers_per_pair: int = 10) -> Dataset:
    """Each course has a first book F<i> and a second S<i>: its readers borrow an unrelated
    book, then F, and next term S (the last third of the loans). The right list of F<i> is
    S<i>."""
    rows = []
    for course in range(pairs):
        for r in range(readers_per_pair):
            reader = f"c{course}r{r}"
            day = 10 * r + course
            rows += [(reader, f"X{(course + r) % 5}", day), (reader, f"F{course}", day + 5)]
            rows.append((reader, f"S{course}", 300 + day))
    return _loans(rows)


def test_a_reader_looks_at_their_last_book_and_a_session_of_their_last_three() -> None:
    rows = [
        ("a", "b1", 1),
        ("a", "b2", 2),
        ("a", "b3", 3),
        ("a", "b2", 4),  # borrowed again: b2 is now the latest
        ("a", "b4", 20),
        ("solo", "b1", 5),
        ("solo", "b4", 21),
        ("other", "b5", 6),
        ("other", "b4", 7),
    ]
    split = temporal_split(_loans(rows), test_share=0.2)
    views = B.page_views(split)
    assert views.anchors.to_dict() == {"a": "b2", "solo": "b1"}
    assert views.sessions.to_dict() == {"a": ("b1", "b3", "b2")}


def test_session_books_must_be_at_least_two() -> None:
    split = temporal_split(_course_library(), test_share=0.2)
    with pytest.raises(ValueError, match="session_books must be at least 2; got 1"):
        B.page_views(split, session_books=1)


def test_co_borrowing_counts_distinct_readers_and_drops_pairs_below_the_threshold() -> None:
    rows = [
        ("r1", "a", 1),
        ("r1", "b", 2),
        ("r1", "b", 3),  # a re-loan is the same reader
        ("r2", "a", 1),
        ("r2", "b", 2),
        ("r3", "a", 1),
        ("r3", "c", 2),
    ]
    dataset = _loans(rows)
    ids = IdMap(["a", "b", "c"])
    borrowed = N.borrowed_matrix(dataset, ids)
    plain = N.co_borrowing_scorer(borrowed)(np.array([0]))
    assert plain.tolist() == [[0.0, 2.0, 1.0]]
    kept = N.co_borrowing_scorer(borrowed, min_readers=2)(np.array([0, 2]))
    assert kept.tolist() == [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]


def test_factor_baselines_never_link_a_book_fewer_than_k_readers_borrowed() -> None:
    dataset = make_library()
    ids = IdMap(dataset.books.astype(str))
    borrowed = N.borrowed_matrix(dataset, ids)
    readers = np.asarray(borrowed.sum(axis=0)).ravel()
    k = int(np.sort(readers)[len(readers) // 4]) + 1  # about a quarter of the books are rare
    rare = readers < k
    assert rare.any() and (~rare).any()
    anchors = np.arange(len(ids))
    for scorer in (N.als_scorer(borrowed, min_readers=k), N.bm25_scorer(borrowed, min_readers=k)):
        scores = scorer(anchors)
        assert (scores[:, rare] == 0).all() and (scores[rare] == 0).all()
        assert (scores[~rare][:, ~rare] > 0).any()  # not vacuous


def test_the_catalog_list_links_an_author_subjects_and_the_volumes_of_a_series() -> None:
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: ["v1", "v2", "same_author", "same_subject", "unrelated"],
            C.AUTHOR: ["Ann", "Bo", "Ann", "Cy", "Di"],
            C.SUBJECTS: ["Rivers", "Lakes", "Hills", "Rivers", "Deserts"],
            C.SERIES: ["Waters\t1", "Waters\t2", None, None, None],
        }
    )
    ids = IdMap(catalog[C.BOOK_ID])
    scores = N.catalog_scorer(catalog, ids)(np.array([0]))[0]
    assert scores[0] == 0  # never the page's own book
    assert scores[1] > 0 and scores[2] > 0 and scores[3] > 0
    assert scores[4] == 0


def test_lists_that_know_the_next_book_score_one_and_popular_padding_scores_less() -> None:
    split = temporal_split(_course_library(), test_share=0.2)
    views = B.page_views(split)
    lists = B.baseline_lists(split.train, views, k=5, min_readers=3, seed=0)
    co = lists[B.CO_BORROWING_K].pages
    # every test reader's page is a course's first book, and its list starts with the second
    anchors = views.anchors
    assert anchors.str.startswith("F").all() and len(anchors) > 0
    first = co[co[C.RANK] == 1].set_index(C.READER_ID)[C.BOOK_ID]
    assert (first.reindex(anchors.index) == anchors.str.replace("F", "S")).all()
    assert (co.groupby(C.READER_ID).size() == 5).all()  # padded to k


def test_every_method_is_scored_on_each_cut_and_the_known_answer_scores_highest() -> None:
    dataset = _course_library(pairs=8, readers_per_pair=10)
    comparison = B.compare_book_lists(
        dataset,
        {"hybrid": lambda: HybridRecommender(factors=4, iterations=2, random_state=0)},
        k=5,
        cuts=2,
        first=0.8,
        confirming=1,
        min_readers=3,
    )
    table = comparison.table()
    assert set(table.index.get_level_values("method")) == {"hybrid", *B.BASELINES}
    assert len(comparison.cuts) == 2
    means = comparison.means()
    assert means.loc[B.CO_BORROWING_K, B.PAGE] == pytest.approx(1.0)
    assert means.loc["hybrid", B.PAGE] == pytest.approx(1.0)
    assert means.loc[B.CATALOG, B.PAGE] < 0.5
    assert comparison.best_private_baseline() == B.CO_BORROWING_K
    ratio, low, high = comparison.ratio("hybrid", B.CO_BORROWING_K)
    assert ratio == pytest.approx(1.0) and low <= ratio <= high


def test_the_served_list_is_scored_as_the_pipeline_shows_it(library: Dataset) -> None:
    cut = rolling_cuts(library, cuts=2, confirming=1)[0]
    scores = B.score_cut(
        cut, {"hybrid": lambda: HybridRecommender(factors=4, iterations=2, random_state=0)}
    )
    assert scores.readers[B.PAGE] > 0
    for method in ("hybrid", *B.BASELINES):
        value = scores.ndcg(method, B.PAGE)
        assert 0 <= value <= 1
    assert scores.ndcg("hybrid", B.PAGE) > 0  # the two taste groups are learnable
