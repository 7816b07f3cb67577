"""Readers' lists on rolling cuts: recall on new books, the stratified bootstrap of a lead, the
lead over the best baseline, and the protocol end to end on a small dated library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.rolling import CONFIRMATION, DEVELOPMENT
from recsys.evaluation.rolling_readers import (
    ReaderCut,
    lead,
    new_book_recall,
    rolling_document,
    rolling_reader_quality,
    stratified_bootstrap_ratio,
)
from recsys.evaluation.splits import Split
from recsys.models.base import Recommender
from recsys.models.knn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2024-01-01", tz="UTC")


def _split() -> Split:
    train = pd.DataFrame(
        {
            C.READER_ID: ["r1", "r1", "r2"],
            C.BOOK_ID: ["old", "recent", "old"],
            C.TIMESTAMP: [START, START + 100 * DAY, START + DAY],
        }
    )
    test = pd.DataFrame(
        {
            C.READER_ID: ["r1", "r2", "r2", "r1"],
            C.BOOK_ID: ["unseen", "recent", "unseen", "old2"],
            C.TIMESTAMP: [START + 120 * DAY] * 4,
        }
    )
    dataset = Dataset.from_interactions(train)
    return Split(train=dataset, test=test, cold_start=test.iloc[:0], kind="test")


def _lists(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.RANK])


def test_new_book_recall_counts_held_out_pairs_on_books_new_since_the_date() -> None:
    recs = _lists([("r1", "unseen", 1), ("r2", "recent", 2), ("r2", "unseen", 11)])
    # new since day 90: "recent" (first borrowed day 100), "unseen", "old2"; hits: two of four
    assert new_book_recall(recs, _split(), k=10, since=START + 90 * DAY) == pytest.approx(0.5)
    # new = never borrowed in training: "unseen" twice, "old2"; one hit within the top 10
    assert new_book_recall(recs, _split(), k=10, since=None) == pytest.approx(1 / 3)


def test_stratified_bootstrap_ratio_weighs_each_cut_equally() -> None:
    first = (np.array([0.2, 0.2]), np.array([0.1, 0.1]))
    second = (np.array([0.3, 0.3, 0.3, 0.3]), np.array([0.3, 0.3, 0.3, 0.3]))
    ratio, low, high = stratified_bootstrap_ratio([first, second], resamples=200)
    assert ratio == pytest.approx((0.2 + 0.3) / (0.1 + 0.3))
    assert low == pytest.approx(ratio) and high == pytest.approx(ratio)  # no spread to draw


def test_stratified_bootstrap_interval_brackets_a_noisy_ratio() -> None:
    rng = np.random.default_rng(1)
    bottom = rng.random(400)
    top = 1.5 * bottom + rng.normal(0, 0.05, 400)
    ratio, low, high = stratified_bootstrap_ratio([(top, bottom)], resamples=500)
    assert low < ratio < high
    assert low > 1.4 and high < 1.6


def test_stratified_bootstrap_ratio_refuses_unpaired_figures() -> None:
    with pytest.raises(ValueError, match="two equal non-empty per-reader arrays"):
        stratified_bootstrap_ratio([(np.ones(3), np.ones(2))])


def _cut(name: str, ndcg: dict[str, list[float]], coverage: dict[str, float]) -> ReaderCut:
    per_reader = pd.DataFrame(ndcg)
    table = pd.DataFrame(
        {"ndcg@10": per_reader.mean(), "coverage@10": pd.Series(coverage)}
    ).rename_axis("model")
    return ReaderCut(name, DEVELOPMENT, table, per_reader, {})


def test_lead_is_over_the_best_baseline_in_the_mean_and_per_cut() -> None:
    cuts = [
        _cut(
            "one",
            {"m": [0.4, 0.4], "a": [0.2, 0.2], "b": [0.1, 0.1]},
            {"m": 0.5, "a": 0.3, "b": 0.1},
        ),
        _cut(
            "two",
            {"m": [0.3, 0.3], "a": [0.1, 0.1], "b": [0.2, 0.2]},
            {"m": 0.3, "a": 0.3, "b": 0.1},
        ),
    ]
    result = lead(cuts, default="m", baselines=["a", "b"], coverage_baseline="a", resamples=50)
    assert result.best_baseline == "a"  # mean 0.15 against b's 0.15: the first wins the tie
    assert result.ratio == pytest.approx(0.7 / 0.3)
    assert result.per_cut.to_dict() == pytest.approx({"one": 2.0, "two": 1.5})
    assert result.coverage == pytest.approx(0.4) and result.baseline_coverage == pytest.approx(0.3)
    document = rolling_document(cuts, result)
    assert document["lead"]["best_baseline"] == "a"  # type: ignore[index]


def _dated_library() -> Dataset:
    """Two taste groups over a year of loans, with books added to the catalog over time."""
    rng = np.random.default_rng(3)
    rows = []
    for reader in range(80):
        group = reader % 2
        for day in sorted(rng.integers(0, 365, size=12)):
            book = group * 30 + int(rng.integers(0, min(30, 10 + day // 15)))
            rows.append((f"r{reader}", f"b{book}", START + int(day) * DAY))
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP])
    catalog = pd.DataFrame({C.BOOK_ID: [f"b{i}" for i in range(60)]})
    return Dataset.from_interactions(frame, catalog)


def test_rolling_reader_quality_compares_the_models_on_every_cut() -> None:
    seen_catalogs: list[int] = []

    def models(train: Dataset) -> dict[str, Recommender]:
        seen_catalogs.append(len(train.catalog))
        return {
            "knn": ItemKNNRecommender(neighbours=20, min_pair_support=2),
            "popularity": PopularityRecommender(),
        }

    cuts = rolling_reader_quality(_dated_library(), models, cuts=4, confirming=2)
    assert [cut.role for cut in cuts] == [DEVELOPMENT, DEVELOPMENT, CONFIRMATION, CONFIRMATION]
    assert seen_catalogs == sorted(seen_catalogs) and seen_catalogs[0] < 60  # as of each cut
    for cut in cuts:
        assert list(cut.table.index) == ["knn", "popularity"]
        assert {"ndcg@10", "coverage@10", "popular_share@10", "new_book_recall@10"} <= set(
            cut.table.columns
        )
        np.testing.assert_allclose(cut.ndcg.mean().to_numpy(), cut.table["ndcg@10"].to_numpy())
    mean = pd.DataFrame({cut.name: cut.table["ndcg@10"] for cut in cuts}).mean(axis=1)
    assert mean["knn"] > mean["popularity"]
