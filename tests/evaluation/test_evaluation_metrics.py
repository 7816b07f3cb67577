"""Every metric on a case computed by hand, and cross-checked against implicit's evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from implicit.evaluation import ranking_metrics_at_k
from implicit.nearest_neighbours import CosineRecommender
from scipy import sparse

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation import metrics as M

LOG2_3 = math.log2(3)

# implicit's CosineRecommender converts a matrix internally and warns about it
pytestmark = pytest.mark.filterwarnings("ignore:Method expects CSR input")


def _recs(lists: dict[str, list[str]]) -> pd.DataFrame:
    rows = [
        (reader, book, rank)
        for reader, books in lists.items()
        for rank, book in enumerate(books, start=1)
    ]
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.RANK])
    return frame.iloc[::-1].reset_index(drop=True)  # reversed: metrics must sort by rank


def _pairs(relevant: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(reader, book) for reader, books in relevant.items() for book in books],
        columns=[C.READER_ID, C.BOOK_ID],
    )


@pytest.fixture
def hand_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = _recs(
        {
            "A": ["b1", "b2", "b4", "b9"],  # hits at ranks 1 and 3 (b9 at rank 4 is beyond K=3)
            "B": ["b2", "b5", "b3"],  # hit at rank 2
            "C": ["b1", "b2", "b3", "b6"],  # b6 is relevant but at rank 4: no hit at K=3
            "E": ["b1", "b2", "b3"],  # not a test reader: ignored
        }
    )
    relevant = _pairs(
        {
            "A": ["b1", "b4", "b4"],  # duplicate pair counts once -> {b1, b4}
            "B": ["b5"],
            "C": ["b6", "b7", "b8", "b9"],
            "D": ["b2"],  # no list at all: scores zero
        }
    )
    return recs, relevant


def test_ranking_metrics_per_reader_by_hand(hand_case) -> None:
    recs, relevant = hand_case
    table = M.ranking_metrics(recs, relevant, k=3)
    assert list(table.index) == ["A", "B", "C", "D"]
    a, b = table.loc["A"], table.loc["B"]
    # A: hits at 1 and 3 of K=3, 2 relevant
    assert a["precision"] == pytest.approx(2 / 3)
    assert a["recall"] == pytest.approx(2 / 2)
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG over min(3, 2) = 2 gains = 1 + 1/log2(3)
    assert a["ndcg"] == pytest.approx(1.5 / (1 + 1 / LOG2_3))  # 0.91972
    # AP = (1/1 + 2/3) / min(3, 2) = 0.8333
    assert a["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert (a["hit_rate"], a["rr"]) == (1.0, 1.0)
    # B: one hit at rank 2 of 1 relevant: DCG = 1/log2(3), IDCG = 1; AP = (1/2) / 1; RR = 1/2
    assert b["precision"] == pytest.approx(1 / 3)
    assert b["recall"] == 1.0
    assert b["ndcg"] == pytest.approx(1 / LOG2_3)
    assert b["ap"] == pytest.approx(0.5)
    assert b["rr"] == pytest.approx(0.5)
    for reader in ("C", "D"):
        assert table.loc[reader, ["precision", "recall", "ndcg", "ap", "hit_rate", "rr"]].sum() == 0
    assert table["n_relevant"].tolist() == [2, 1, 4, 1]
    assert table["hits"].tolist() == [2, 1, 0, 0]


def test_summary_means_over_readers_by_hand(hand_case) -> None:
    recs, relevant = hand_case
    summary = M.summarize_ranking(M.ranking_metrics(recs, relevant, k=3), k=3)
    assert summary["precision@3"] == pytest.approx((2 / 3 + 1 / 3 + 0 + 0) / 4)  # 0.25
    # implicit's pooled precision: 3 hits / (min(3,2) + min(3,1) + min(3,4) + min(3,1)) = 3/7
    assert summary["precision_implicit@3"] == pytest.approx(3 / 7)
    assert summary["recall@3"] == pytest.approx((1 + 1) / 4)
    assert summary["ndcg@3"] == pytest.approx((1.5 / (1 + 1 / LOG2_3) + 1 / LOG2_3) / 4)  # 0.3877
    assert summary["map@3"] == pytest.approx((5 / 6 + 0.5) / 4)  # 0.3333
    assert summary["hit_rate@3"] == pytest.approx(0.5)
    assert summary["mrr@3"] == pytest.approx((1 + 0.5) / 4)  # 0.375


def test_order_without_rank_column_is_frame_order() -> None:
    recs = pd.DataFrame({C.READER_ID: ["A", "A"], C.BOOK_ID: ["b2", "b1"]})
    table = M.ranking_metrics(recs, _pairs({"A": ["b1"]}), k=2)
    assert table.loc["A", "rr"] == 0.5  # b1 is second in frame order


def test_bad_k_is_named(hand_case) -> None:
    recs, relevant = hand_case
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        M.ranking_metrics(recs, relevant, k=0)


def _implicit_case(seed: int, users: int, items: int, test_per_user: tuple[int, int]):
    """Random train/test matrices with disjoint pairs, and an implicit model fitted on train."""
    rng = np.random.default_rng(seed)
    train = sparse.csr_matrix(
        sparse.random(users, items, density=0.15, random_state=seed, dtype=np.float32)
    )
    train.data[:] = 1.0
    rows, cols = [], []
    for user in range(users):
        n_test = rng.integers(*test_per_user)
        unseen = np.setdiff1d(np.arange(items), train[user].indices)
        chosen = rng.choice(unseen, size=min(n_test, len(unseen)), replace=False)
        rows += [user] * len(chosen)
        cols += list(chosen)
    test = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users, items))
    model = CosineRecommender(K=20)
    model.fit(train, show_progress=False)
    return train, test, model


def _as_frames(train, test, model, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    users = np.flatnonzero(np.diff(test.indptr))
    ids, _ = model.recommend(users, train[users], N=k, filter_already_liked_items=True)
    recs = pd.DataFrame(
        {
            C.READER_ID: np.repeat(users, k).astype(str),
            C.BOOK_ID: ids.ravel().astype(str),
            C.RANK: np.tile(np.arange(1, k + 1), len(users)),
        }
    )
    coo = test.tocoo()
    relevant = pd.DataFrame({C.READER_ID: coo.row.astype(str), C.BOOK_ID: coo.col.astype(str)})
    return recs, relevant


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_implicit_ranking_metrics_at_k(seed: int) -> None:
    k = 5
    train, test, model = _implicit_case(seed, users=60, items=50, test_per_user=(0, 8))
    expected = ranking_metrics_at_k(model, train, test, K=k, show_progress=False)
    recs, relevant = _as_frames(train, test, model, k)
    summary = M.summarize_ranking(M.ranking_metrics(recs, relevant, k=k), k=k)
    assert expected["precision"] > 0  # the case has hits, so the comparison means something
    assert summary[f"precision_implicit@{k}"] == pytest.approx(expected["precision"])
    assert summary[f"ndcg@{k}"] == pytest.approx(expected["ndcg"])
    assert summary[f"map@{k}"] == pytest.approx(expected["map"])


def test_standard_precision_equals_implicits_when_every_reader_has_k_relevant() -> None:
    # with n_relevant >= K for everyone, min(K, n_relevant) = K: both definitions coincide
    k = 4
    train, test, model = _implicit_case(5, users=40, items=60, test_per_user=(k, k + 3))
    expected = ranking_metrics_at_k(model, train, test, K=k, show_progress=False)
    recs, relevant = _as_frames(train, test, model, k)
    summary = M.summarize_ranking(M.ranking_metrics(recs, relevant, k=k), k=k)
    assert expected["precision"] > 0
    assert summary[f"precision@{k}"] == pytest.approx(expected["precision"])


def test_catalog_coverage_by_hand() -> None:
    catalog = pd.Index([f"b{i}" for i in range(1, 11)])
    recs = _recs({"A": ["b1", "b2", "b3"], "B": ["b3", "b4", "b5"], "C": ["zz"]})
    # 5 distinct catalog books suggested of 10; "zz" is not in the catalog
    assert M.catalog_coverage(recs, catalog) == pytest.approx(0.5)


def test_popular_share_by_hand() -> None:
    # 200 books: the top 1 % is 2 books (p0 with 100 readers, p1 with 90)
    popularity = pd.Series(np.r_[100, 90, np.ones(198)], index=[f"p{i}" for i in range(200)])
    recs = _recs({"A": ["p0", "p5", "p6", "p7", "p8"], "B": ["p1", "p0", "p9", "p10", "p11"]})
    # 3 of 10 slots hold p0 or p1
    assert M.popular_share(recs, popularity) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 1, 1, 1], 0.0),
        # sorted [0,0,0,4]: 2*(4*4)/(4*4) - 5/4 = 0.75 = (n-1)/n
        ([4, 0, 0, 0], 0.75),
        # mean absolute difference: (1+2+1)*2 / (2 * 3^2 * mean 2) = 8/36
        ([3, 1, 2], 8 / 36),
    ],
)
def test_gini_by_hand(values: list[int], expected: float) -> None:
    assert M.gini(values) == pytest.approx(expected)


def test_exposure_counts_include_never_suggested_books() -> None:
    recs = _recs({"A": ["b1", "b2"], "B": ["b1"]})
    exposure = M.exposure_counts(recs, pd.Index(["b1", "b2", "b3"]))
    assert exposure.to_dict() == {"b1": 2, "b2": 1, "b3": 0}


def test_novelty_by_hand() -> None:
    # 3 training readers: x by all 3 -> p = (3+1)/(3+1) = 1 -> 0 bits;
    # y by 1 -> p = 2/4 -> 1 bit; z by nobody -> p = 1/4 -> 2 bits
    popularity = pd.Series({"x": 3, "y": 1, "z": 0})
    recs = _recs({"A": ["x", "y", "z"], "B": ["y", "y"]})
    novelty = M.novelty(recs, popularity, n_readers=3)
    assert novelty["A"] == pytest.approx((0 + 1 + 2) / 3)
    assert novelty["B"] == pytest.approx(1.0)


def test_intra_list_diversity_by_hand() -> None:
    subjects = pd.Series(
        {
            "b1": "Alps; Hiking",
            "b2": "hiking; Maps",
            "b3": "Poetry",
            "b4": None,
            "b5": "alps ;hiking",
        }
    )
    recs = _recs({"A": ["b1", "b2", "b3", "b4"], "B": ["b1", "b4"], "C": ["b1", "b5"]})
    diversity = M.intra_list_diversity(recs, subjects)
    # A: pairs with subjects (b1,b2): |{hiking}| / |{alps, hiking, maps}| = 1/3; (b1,b3) 0;
    # (b2,b3) 0 -> mean 1/9 -> diversity 8/9; b4 has no subjects and is skipped
    assert diversity["A"] == pytest.approx(8 / 9)
    assert math.isnan(diversity["B"])  # no pair where both books have subjects
    assert diversity["C"] == pytest.approx(0.0)  # same headings up to case and spaces


def test_book_popularity_counts_distinct_readers_of_loans() -> None:
    frame = pd.DataFrame(
        {
            C.READER_ID: ["r1", "r1", "r2", "r3"],
            C.BOOK_ID: ["b1", "b1", "b1", "b2"],
            C.EVENT: ["loan", "renewal", "loan", "view"],
        }
    )
    catalog = pd.DataFrame({C.BOOK_ID: ["b3"]})
    popularity = M.book_popularity(Dataset.from_interactions(frame, catalog=catalog))
    # b1: r1 (twice) and r2 -> 2 readers; b2 only viewed -> 0; b3 catalog only -> 0
    assert popularity.to_dict() == {"b1": 2, "b2": 0, "b3": 0}


def test_reader_segments_by_hand() -> None:
    rows = (
        [("light", f"b{i}", "loan", "L1") for i in range(2)]
        + [("medium", f"b{i}", "loan", "L2") for i in range(4)]
        + [("medium", f"c{i}", "loan", "L1") for i in range(2)]
        + [("medium", f"v{i}", "view", "L1") for i in range(30)]  # views are not loans
        + [("heavy", f"b{i}", "loan", None) for i in range(20)]
    )
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.EVENT, C.LIBRARY_ID])
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: ["b0", "b1", "b2", "b3", "c0", "c1"],
            C.AUDIENCE: ["children", "children", "children", "adult", "adult", "adult"],
        }
    )
    segments = M.reader_segments(Dataset.from_interactions(frame, catalog=catalog))
    assert segments.loc["light"].to_dict() == {
        "train_loans": 2,
        "activity": "light",
        "branch": "L1",
        "audience": "children",
    }
    # 6 loans (>= 5, < 20); 4 at L2 vs 2 at L1; audiences: 3 children (b0-b2) vs 3 adult -> tie,
    # the smaller value ("adult") wins
    assert segments.loc["medium"].to_dict() == {
        "train_loans": 6,
        "activity": "medium",
        "branch": "L2",
        "audience": "adult",
    }
    assert segments.loc["heavy", "activity"] == "heavy"
    assert segments.loc["heavy", "branch"] == "unknown"
    # restricted to some readers (the test readers), each keeps the segments of the whole data
    some = M.reader_segments(
        Dataset.from_interactions(frame, catalog=catalog), readers=["medium", "absent"]
    )
    pd.testing.assert_frame_equal(some, segments.loc[["medium"]])


def test_reader_segments_rejects_bad_bounds() -> None:
    frame = pd.DataFrame({C.READER_ID: ["r"], C.BOOK_ID: ["b"]})
    with pytest.raises(ValueError, match="activity_bounds must be increasing"):
        M.reader_segments(Dataset.from_interactions(frame), activity_bounds=(20, 5))


WORKS = pd.Series({"a1": "W", "a2": "W", "a3": "W"})  # three records of one work; others alone


def test_a_hit_counts_by_work_and_a_repeated_work_is_never_a_second_hit() -> None:
    recs = _recs({"A": ["a1", "a2", "b1"], "B": ["b2", "a3", "b3"]})
    relevant = _pairs({"A": ["a2"], "B": ["a1", "b3"]})
    # A borrowed a2, a record of the work suggested first: a hit at rank 1, and a2 at rank 2
    # (the same work again) is no second hit. B borrowed a1 (work W, at rank 2) and b3 (rank 3).
    metrics = M.ranking_metrics(M.by_work(recs, WORKS), M.relevant_works(relevant, WORKS), k=3)
    records = M.ranking_metrics(recs, relevant, k=3)
    assert metrics["hits"].to_dict() == {"A": 1, "B": 2}
    assert metrics.loc["A", "rr"] == 1.0 and records.loc["A", "rr"] == 0.5
    assert records["hits"].to_dict() == {"A": 1, "B": 1}


def test_shares_of_lists_with_a_repeated_or_an_already_borrowed_work() -> None:
    recs = _recs({"A": ["a1", "a2", "b1"], "B": ["b2", "a3"], "C": ["b4", "b5"]})
    assert M.repeated_work_share(recs, WORKS) == pytest.approx(1 / 3)
    train = Dataset.from_interactions(
        pd.DataFrame(
            {
                C.READER_ID: ["B", "C", "C"],
                C.BOOK_ID: ["a1", "b9", "b4"],  # B borrowed another record of a3's work
                C.EVENT: ["loan", "loan", "view"],  # a view is not a borrowing
            }
        )
    )
    assert M.borrowed_work_share(recs, train, WORKS) == pytest.approx(1 / 3)
    assert M.borrowed_work_share(recs, train, pd.Series(dtype=object)) == 0.0
