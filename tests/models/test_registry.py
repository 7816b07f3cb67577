"""Registry: names, building, loading by the name in params.json, the library default."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.models.hybrid import HybridRecommender
from recsys.models.popularity import PopularityRecommender
from recsys.models.registry import MODELS, build_model, default_model, load_model


def test_registry_is_keyed_by_each_models_name() -> None:
    assert {name for name, model in MODELS.items() if model.name == name} == set(MODELS)
    assert {"hybrid", "als", "als_default", "bpr", "knn", "popularity", "content"} <= set(MODELS)


def test_unknown_model_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown model name 'nope'; choose from \["):
        build_model("nope")


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(TypeError):
        build_model("als", not_a_parameter=1)


def test_load_model_picks_the_class_from_params_json(board: Dataset, tmp_path: Path) -> None:
    PopularityRecommender(half_life_days=None).fit(board).save(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, PopularityRecommender)
    assert loaded.get_params()["half_life_days"] is None


def test_load_model_without_params_file_says_which_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no params\.json in model directory"):
        load_model(tmp_path)


def test_default_model_is_the_hybrid_with_configured_privacy_and_seed() -> None:
    settings = Settings(min_pair_support=5, seed=11, half_life_days=200.0)
    model = default_model(settings)
    assert isinstance(model, HybridRecommender)
    assert model.min_pair_support == 5
    assert model.random_state == 11
