"""compare_models fits every model on the same split and always includes the baselines."""

from __future__ import annotations

import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import compare_models, reader_lists
from recsys.evaluation.splits import temporal_split
from recsys.models import registry


def test_compare_models_adds_baselines_and_records_times(library: Dataset) -> None:
    split = temporal_split(library, test_share=0.2)
    knn = registry.create("knn", similarity="bm25")
    lines: list[str] = []
    comparison = compare_models({"knn": knn}, split, k=5, progress=lines.append)
    assert list(comparison.results) == ["knn", "popularity", "als_default"]
    assert comparison.params["als_default"]["factors"] == 100  # implicit's own default
    table = comparison.table()
    assert (table["fit_seconds"] > 0).all() and (table["recommend_seconds"] > 0).all()
    assert (table["readers"] == split.test[C.READER_ID].nunique()).all()
    # two taste groups: neighbours of a reader's books find the group, popularity cannot
    assert table.loc["knn", "ndcg@5"] > table.loc["popularity", "ndcg@5"]
    # the caller's instance is the fitted one (an unfitted one raises NotFittedError)
    assert len(knn.recommend([split.test[C.READER_ID].iloc[0]], k=3)) == 3
    assert any(line.startswith("knn: fit") for line in lines)


def test_a_given_baseline_is_not_replaced(library: Dataset) -> None:
    split = temporal_split(library, test_share=0.2)
    mine = registry.create("popularity", per_library=False)
    comparison = compare_models({"popularity": mine}, split, k=5)
    assert comparison.params["popularity"]["per_library"] is False
    assert list(comparison.results) == ["popularity", "als_default"]


def test_nothing_to_compare_is_an_error(library: Dataset) -> None:
    split = temporal_split(library, test_share=0.2)
    with pytest.raises(ValueError, match="candidates is empty and include_baselines is False"):
        compare_models({}, split, include_baselines=False)


def test_lists_made_where_the_model_was_fitted_score_as_a_fit_here(library: Dataset) -> None:
    split = temporal_split(library, test_share=0.2)
    here = compare_models({"knn": registry.create("knn", similarity="bm25")}, split, k=5)
    made = reader_lists(registry.create("knn", similarity="bm25"), split, k=5, name="knn")
    lines: list[str] = []
    there = compare_models({}, split, k=5, lists={"knn": made}, progress=lines.append)
    assert list(there.results) == ["knn", "popularity", "als_default"]
    assert there.results["knn"].summary == here.results["knn"].summary
    assert there.params["knn"] == here.params["knn"]
    assert there.fit_seconds["knn"] == made.fit_seconds > 0
    assert any(line.startswith("knn: lists made when it was fitted, ndcg@5") for line in lines)
