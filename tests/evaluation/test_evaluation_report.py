"""Scoring lists against a split, the tables notebooks use, and the written report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.data.works import derive_work_ids
from recsys.evaluation import report
from recsys.evaluation.evaluate import ComparisonResult, evaluate_recommendations
from recsys.evaluation.metrics import book_popularity
from recsys.evaluation.splits import Split, temporal_split


def _oracle_lists(split: Split, k: int) -> pd.DataFrame:
    """Each test reader's held-out books first, then filler books nobody reads: perfect recall."""
    rows = []
    for reader, group in split.test.groupby(C.READER_ID):
        books = list(group[C.BOOK_ID])[:k]
        books += [f"filler{i}" for i in range(k - len(books))]
        rows += [(reader, book, float(k - rank), rank + 1) for rank, book in enumerate(books)]
    return pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.SCORE, C.RANK])


def _popular_lists(split: Split, k: int) -> pd.DataFrame:
    """The same k most borrowed books for everyone."""
    popularity = book_popularity(split.train).sort_values(ascending=False, kind="stable")
    top = popularity.index[:k]
    readers = split.test_readers
    return pd.DataFrame(
        {
            C.READER_ID: np.repeat(readers, k),
            C.BOOK_ID: np.tile(top, len(readers)),
            C.RANK: np.tile(np.arange(1, k + 1), len(readers)),
        }
    )


@pytest.fixture
def split(library: Dataset) -> Split:
    return temporal_split(library, test_share=0.2)


@pytest.fixture
def comparison(split: Split) -> ComparisonResult:
    k = 5
    results = {
        "oracle": evaluate_recommendations(_oracle_lists(split, k), split, k=k),
        "popular": evaluate_recommendations(_popular_lists(split, k), split, k=k),
    }
    return ComparisonResult(
        k=k,
        split=split.describe(),
        results=results,
        fit_seconds={"oracle": 0.5, "popular": 0.1},
        recommend_seconds={"oracle": 0.2, "popular": 0.1},
    )


def test_oracle_lists_score_perfect_recall_and_hit_rate(split: Split) -> None:
    result = evaluate_recommendations(_oracle_lists(split, 50), split, k=50)
    assert result.summary["recall@50"] == pytest.approx(1.0)
    assert result.summary["hit_rate@50"] == pytest.approx(1.0)
    assert result.summary["ndcg@50"] == pytest.approx(1.0)
    assert result.summary["readers"] == split.test[C.READER_ID].nunique()
    assert set(result.per_reader.columns) >= {"activity", "branch", "audience", "novelty"}


def test_hits_count_by_work_beside_records_and_borrowed_works_leave_the_test() -> None:
    """Two records of Emma without a work_id: the derived work makes r1's test loan of the
    other record a re-loan (not counted) and r2's loan of e2 a hit for a list suggesting e1."""
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: ["e1", "e2", "x", "y", "z"],
            C.TITLE: ["Emma /", "Emma", "X", "Y", "Z"],
            C.AUTHOR: ["Austen, Jane, 1775-1817", "Austen, Jane", "A", "B", "C"],
        }
    )
    catalog[C.WORK_ID] = derive_work_ids(catalog)
    loans = pd.DataFrame(
        [
            ("r1", "e1", 1),
            ("r1", "y", 2),
            ("r2", "x", 3),
            ("r2", "z", 4),
            ("r3", "x", 5),
            ("r3", "y", 6),
            ("r1", "e2", 10),
            ("r2", "e2", 11),
        ],
        columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP],
    )
    loans[C.TIMESTAMP] = pd.to_datetime(loans[C.TIMESTAMP], unit="D", utc=True)
    split = temporal_split(Dataset.from_interactions(loans, catalog), test_share=0.25)
    assert split.test[[C.READER_ID, C.BOOK_ID]].values.tolist() == [["r2", "e2"]]
    lists = pd.DataFrame({C.READER_ID: "r2", C.BOOK_ID: ["e1", "e2", "y"], C.RANK: [1, 2, 3]})
    summary = evaluate_recommendations(lists, split, k=3).summary
    assert summary["ndcg@3"] == pytest.approx(1.0)  # Emma, at rank 1, was borrowed
    assert summary["record_ndcg@3"] == pytest.approx(1 / np.log2(3))  # the record, at rank 2
    assert summary["repeated_work_lists@3"] == 1.0
    assert summary["borrowed_work_lists@3"] == 0.0


def test_one_list_for_everyone_has_low_coverage_and_full_popular_share(split: Split) -> None:
    result = evaluate_recommendations(_popular_lists(split, 5), split, k=5)
    books = len(split.train.books)
    assert result.summary["coverage@5"] == pytest.approx(5 / books)
    assert result.summary["gini@5"] == pytest.approx((books - 5) / books)  # 5 equal, rest zero
    assert result.summary["popular_share@5"] == pytest.approx(1 / 5)  # 1 % of 80 -> 1 book of 5


def test_readers_without_a_list_count_as_misses(split: Split) -> None:
    lists = _oracle_lists(split, 5)
    first = lists[C.READER_ID].iloc[0]
    result = evaluate_recommendations(lists.loc[lists[C.READER_ID] != first], split, k=5)
    assert result.summary["readers_without_list"] == 1
    assert result.per_reader.loc[first, "recall"] == 0


def test_comparison_table_orders_by_ndcg(comparison: ComparisonResult) -> None:
    table = report.comparison_table(comparison)
    assert list(table.index) == ["oracle", "popular"]
    assert table.loc["oracle", "fit_seconds"] == 0.5
    assert "coverage@5" in table.columns


def test_coverage_table_counts_suggested_books(comparison: ComparisonResult) -> None:
    table = report.coverage_table(comparison)
    assert table.loc["popular", "books_suggested"] == 5
    assert table.loc["popular", "coverage@5"] == pytest.approx(
        5 / table.loc["popular", "catalog_books"]
    )


def test_segment_table_groups_readers(comparison: ComparisonResult) -> None:
    result = comparison.results["oracle"]
    table = report.segment_table(result, by="branch")
    assert set(table.index) == {"north", "south"}
    assert table["readers"].sum() == len(result.per_reader)
    by_activity = report.segment_table(result, by="activity")
    assert list(by_activity.index) == [
        b for b in ("light", "medium", "heavy") if b in set(result.per_reader["activity"])
    ]
    with pytest.raises(ValueError, match="by must be a column of per_reader"):
        report.segment_table(result, by="shoe_size")


def test_exposure_curve_by_hand() -> None:
    recs = pd.DataFrame({C.READER_ID: ["a", "a", "b", "b"], C.BOOK_ID: ["x", "y", "x", "x"]})
    curve = report.exposure_curve(recs, pd.Index(["x", "y", "z", "w"]))
    # sorted exposure 3, 1, 0, 0 of 4 slots: the top quarter of books fills 3/4 of the slots
    assert curve["book_share"].tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert curve["slot_share"].tolist() == [0, 0.75, 1.0, 1.0, 1.0]


def test_compare_runs_by_hand() -> None:
    table = report.compare_runs(
        {"ndcg@10": 0.2, "recall@10": 0.1, "only_a": 1.0},
        {"ndcg@10": 0.25, "recall@10": 0.1},
        names=("old", "new"),
    )
    assert list(table.index) == ["ndcg@10", "recall@10"]
    assert table.loc["ndcg@10", "change"] == pytest.approx(0.05)
    assert table.loc["ndcg@10", "relative_change"] == pytest.approx(0.25)
    assert table.loc["recall@10", "new"] == 0.1
    with pytest.raises(ValueError, match="names must differ"):
        report.compare_runs({}, {}, names=("x", "x"))


def test_list_overlap_and_books_gained_lost_by_hand() -> None:
    a = pd.DataFrame({C.READER_ID: ["r1", "r1", "r2"], C.BOOK_ID: ["x", "y", "x"]})
    b = pd.DataFrame({C.READER_ID: ["r1", "r1", "r3"], C.BOOK_ID: ["y", "z", "x"]})
    overlap = report.list_overlap(a, b)
    # only r1 is in both: {x, y} vs {y, z} share 1 of 3 books
    assert overlap.to_dict() == {"r1": pytest.approx(1 / 3)}
    catalog = pd.DataFrame(  # titles as MARC holds them: the table shows them clean
        {
            C.BOOK_ID: ["x", "y", "z"],
            C.TITLE: ["X /", "Y :", "Z /"],
            C.AUTHOR: ["A, 1950-", None, "B"],
        }
    )
    moved = report.books_gained_lost(a, b, catalog)
    assert moved.loc["x", C.AUTHOR] == "A"
    assert moved.loc["z", ["lists_a", "lists_b", "change"]].tolist() == [0, 1, 1]
    assert moved.loc["x", "change"] == -1
    assert moved.index[0] == "z" and moved.loc["z", C.TITLE] == "Z"


def test_never_suggested_lists_books_in_no_list_by_hand() -> None:
    exposure = pd.Series({"x": 3, "y": 0, "z": 0, "w": 0})
    popularity = pd.Series({"x": 9, "y": 1, "z": 4})  # w: catalog only, nobody borrowed it
    catalog = pd.DataFrame({C.BOOK_ID: ["y", "z"], C.TITLE: ["Y", "Z /"]})
    table = report.never_suggested(exposure, popularity, catalog)
    assert list(table.index) == ["z", "y", "w"]
    assert table["training_readers"].tolist() == [4, 1, 0]
    assert table.loc["z", C.TITLE] == "Z" and pd.isna(table.loc["w", C.TITLE])


def test_write_report_writes_json_markdown_and_plots(
    comparison: ComparisonResult, tmp_path: Path
) -> None:
    paths = report.write_report(comparison, tmp_path / "out")
    for key in ("metrics", "report", "metrics_plot", "exposure_plot", "segments_plot"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    assert paths["metrics_plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = report.load_metrics(tmp_path / "out")
    assert document["k"] == 5
    assert document["models"]["oracle"]["metrics"]["recall@5"] == pytest.approx(
        comparison.results["oracle"].summary["recall@5"]
    )
    activity = document["models"]["oracle"]["segments"]["activity"]
    assert set(activity) == set(comparison.results["oracle"].per_reader["activity"])
    assert sum(row["readers"] for row in activity.values()) == document["split"]["test_readers"]
    markdown = paths["report"].read_text()
    assert "| oracle |" in markdown and "![exposure](exposure.png)" in markdown
    readers = set(comparison.results["oracle"].per_reader.index)
    assert not any(
        reader in markdown or reader in paths["metrics"].read_text() for reader in readers
    )
