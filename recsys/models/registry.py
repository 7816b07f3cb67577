"""Every recommender by name: build one, load a saved one, get the library default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recsys.config import Settings
from recsys.engines.spark.model import SparkALSRecommender
from recsys.exceptions import NotPrivateError
from recsys.models.als import ALSRecommender, PlainALSRecommender
from recsys.models.base import PARAMS_FILE, Recommender
from recsys.models.bpr import BPRRecommender
from recsys.models.content import ContentRecommender
from recsys.models.ease import EASERecommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.knn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender
from recsys.models.rp3beta import RP3betaRecommender

MODELS: dict[str, type[Recommender]] = {
    model.name: model
    for model in (
        HybridRecommender,
        ALSRecommender,
        PlainALSRecommender,
        BPRRecommender,
        ItemKNNRecommender,
        EASERecommender,
        RP3betaRecommender,
        PopularityRecommender,
        ContentRecommender,
        SparkALSRecommender,
    )
}
DEFAULT_MODEL = HybridRecommender.name


def model_class(name: str) -> type[Recommender]:
    """The class registered under `name`."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model name {name!r}; choose from {sorted(MODELS)}") from None


def check_private(name: str) -> None:
    """Refuse a model whose lists are not k-anonymous (`Recommender.private_lists`): only such
    models may be published or served; the others are baselines for evaluation."""
    if not model_class(name).private_lists:
        servable = sorted(n for n, model in MODELS.items() if model.private_lists)
        raise NotPrivateError(
            f"model {name!r} is an evaluation baseline: its lists could link a reader to books "
            f"fewer than RECSYS_MIN_PAIR_SUPPORT readers borrowed; publish one of {servable}"
        )


def build_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model; `params` override the class defaults."""
    return model_class(name)(**params)


create = build_model


def load_model(directory: Path) -> Recommender:
    """Load a saved model, choosing the class from the name in its params.json."""
    path = Path(directory) / PARAMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {PARAMS_FILE} in model directory {directory}")
    name = json.loads(path.read_text())["name"]
    return model_class(name).load(Path(directory))


def default_model(settings: Settings) -> Recommender:
    """The hybrid a library gets without tuning, with the privacy and recency settings applied.

    The blend weights and popularity penalty are chosen by the model itself on a validation split
    carved from its own training data (``tune_weights``), never narrower than ALS alone: fixed
    weights that suit one library's circulation do not suit another's (`recsys.tuning.blend`;
    the figures are in docs/quality.md). `settings.half_life_days` (180 days by default,
    about a semester) weights the readers' own recent loans above older ones.
    """
    return HybridRecommender(
        min_pair_support=settings.min_pair_support,
        half_life_days=settings.half_life_days,
        random_state=settings.seed,
        tune_weights=True,
    )
