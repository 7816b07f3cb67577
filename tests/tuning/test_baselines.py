"""Baselines tuned on validation carved from their own training data."""

from __future__ import annotations

import pytest

from recsys.config import Settings
from recsys.models.hybrid import HybridRecommender
from recsys.tuning.baselines import DEFAULT_LABEL, default_and_tuned_baselines, tuned_baselines
from tests.evaluation.conftest import make_library

GRIDS = {
    "als_tuned": ("als", {"factors": [4, 8], "iterations": [3]}),
    "ease": ("ease", {"l2": [10.0, 1000.0]}),
}


def test_each_baseline_chooses_a_grid_point_and_shares_the_recency_weighting() -> None:
    lines: list[str] = []
    chosen = tuned_baselines(
        make_library(), half_life_days=42.0, seed=3, grids=GRIDS, progress=lines.append
    )
    assert list(chosen) == ["als_tuned", "ease"]
    als = chosen["als_tuned"]
    assert als.params["factors"] in (4, 8) and als.points == 4  # each with and without decay
    assert als.model.get_params()["half_life_days"] in (42.0, None)
    assert als.model.get_params()["random_state"] == 3
    assert chosen["ease"].model.get_params()["l2"] in (10.0, 1000.0)
    assert all(0 <= baseline.validation_ndcg <= 1 for baseline in chosen.values())
    assert lines[0].startswith("als_tuned: 4 points in")


def test_default_and_tuned_baselines_puts_the_library_default_first() -> None:
    settings = Settings(_env_file=None, half_life_days=90.0)
    models = default_and_tuned_baselines(make_library(), settings, budget_seconds=0.01)
    assert next(iter(models)) == DEFAULT_LABEL
    assert isinstance(models[DEFAULT_LABEL], HybridRecommender)
    assert {"als_tuned", "knn_cosine", "knn_bm25", "ease", "rp3beta", "popularity"} <= set(models)
    assert models["als_tuned"].get_params()["half_life_days"] in (90.0, None)
    assert models[DEFAULT_LABEL].get_params()["validation_method"] == "temporal"


def test_the_default_validates_the_way_the_baselines_do() -> None:
    settings = Settings(_env_file=None)
    models = default_and_tuned_baselines(
        make_library(), settings, budget_seconds=0.01, validation_method="random"
    )
    assert models[DEFAULT_LABEL].get_params()["validation_method"] == "random"


def test_baselines_validate_on_a_random_holdout_when_asked() -> None:
    library = make_library()
    grids = {"ease": ("ease", {"l2": [10.0]})}
    temporal = tuned_baselines(library, half_life_days=None, seed=3, grids=grids)
    random = tuned_baselines(
        library, half_life_days=None, seed=3, grids=grids, validation_method="random"
    )
    assert temporal["ease"].validation_ndcg != random["ease"].validation_ndcg


def test_baselines_refuse_an_unknown_validation_method() -> None:
    with pytest.raises(ValueError, match="method must be one of 'temporal', 'leave-last'"):
        tuned_baselines(make_library(), half_life_days=None, seed=3, validation_method="weekly")
