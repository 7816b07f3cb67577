"""Baselines tuned with the same care as the default model: each chooses its parameters on
validation carved from its own training data (`recsys.models.search`), in the same run.

A default model compared with baselines left at their library defaults looks better than it is.
Each baseline here searches a small grid of the parameters that matter most for it. Every
collaborative baseline also chooses between the recency weighting the default model gives the
readers' loans and none: on a log that spans decades, a half-life of months leaves a baseline
almost nothing to learn from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.evaluation.rolling_readers import Lead, ReaderCut, lead
from recsys.evaluation.splits import validation_split
from recsys.models.base import Recommender
from recsys.models.registry import build_model, default_model
from recsys.models.search import search

#: Baseline name -> (registered model, grid searched on validation). EASE's inverse is cubic in
#: the books it models, so a large catalog is cut to its most-borrowed books (`max_books`).
BASELINE_GRIDS: dict[str, tuple[str, dict[str, list[Any]]]] = {
    "als_tuned": (
        "als",
        {"factors": [64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 10.0, 40.0]},
    ),
    "knn_cosine": ("knn", {"similarity": ["cosine"], "neighbours": [20, 100, 400]}),
    "knn_bm25": (
        "knn",
        {
            "similarity": ["bm25"],
            "neighbours": [20, 100, 400],
            "bm25_k1": [0.6, 1.2],
            "bm25_b": [0.5, 1.0],
        },
    ),
    "ease": ("ease", {"l2": [50.0, 200.0, 800.0, 3200.0], "max_books": [3000]}),
    "rp3beta": ("rp3beta", {"alpha": [0.5, 1.0], "beta": [0.0, 0.3, 0.6]}),
    "popularity": ("popularity", {"half_life_days": [30.0, 365.0, None]}),
}

#: The last share of the training loans every baseline is validated on.
VALIDATION_SHARE = 0.1


@dataclass(frozen=True)
class TunedBaseline:
    """A baseline with the parameters it chose, unfitted, and what the choice cost."""

    model: Recommender
    params: dict[str, Any]
    validation_ndcg: float
    points: int
    seconds: float


def tuned_baselines(
    train: Dataset,
    *,
    half_life_days: float | None,
    seed: int,
    k: int = 10,
    budget_seconds: float = 120.0,
    grids: Mapping[str, tuple[str, dict[str, list[Any]]]] = BASELINE_GRIDS,
    validation_method: str = "temporal",
    progress: Callable[[str], None] | None = None,
) -> dict[str, TunedBaseline]:
    """Every baseline of `grids`, its parameters chosen on validation carved from `train`.

    `half_life_days` is the recency weighting the default model gives the readers' loans; each
    collaborative baseline tries it and no weighting on every point of its grid. Each search
    stops starting new points after `budget_seconds`. `validation_method` carves the validation
    the way the evaluation holds out its test (`validation_split`): a baseline validated on the
    last loans but tested on a random holdout would choose recency it is not judged on.
    """
    chosen = {}
    validation = validation_split(
        train, method=validation_method, test_share=VALIDATION_SHARE, seed=seed
    )
    for label, (name, grid) in grids.items():
        started = time.perf_counter()
        params = build_model(name).get_params()
        if "half_life_days" in params and "half_life_days" not in grid:
            grid = {**grid, "half_life_days": list(dict.fromkeys([half_life_days, None]))}
        base = {"random_state": seed} if "random_state" in params else {}
        result = search(
            name,
            train,
            grid=grid,
            base_params=base,
            budget_seconds=budget_seconds,
            k=k,
            seed=seed,
            validation=validation,
        )
        seconds = time.perf_counter() - started
        chosen[label] = TunedBaseline(
            model=build_model(name, **result.best_params),
            params=result.best_params,
            validation_ndcg=result.best_score,
            points=len(result.table),
            seconds=seconds,
        )
        if progress is not None:
            progress(
                f"{label}: {len(result.table)} points in {seconds:.0f} s, chose "
                f"{ {key: result.best_params[key] for key in grid} } "
                f"(validation {result.metric} {result.best_score:.4f})"
            )
    return chosen


DEFAULT_LABEL = "default"
#: The baseline whose coverage the default's must not fall below (issue 25).
COVERAGE_BASELINE = "als_tuned"


def default_and_tuned_baselines(
    train: Dataset,
    settings: Settings,
    *,
    budget_seconds: float = 120.0,
    validation_method: str = "temporal",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Recommender]:
    """The library's default model (`DEFAULT_LABEL`) and every baseline tuned on `train`'s own
    validation, unfitted: what one cut of the rolling protocol compares. The default carves
    its validation with `validation_method` too (`recsys.tuning.validation`): judged on a
    random holdout, it must not be the only model that chose on the last loans."""
    tuned = tuned_baselines(
        train,
        half_life_days=settings.half_life_days,
        seed=settings.seed,
        budget_seconds=budget_seconds,
        validation_method=validation_method,
        progress=progress,
    )
    return {
        DEFAULT_LABEL: default_model(settings).set_params(validation_method=validation_method),
        **{label: baseline.model for label, baseline in tuned.items()},
    }


def default_lead(cuts: Sequence[ReaderCut], *, k: int) -> Lead:
    """The default model's lead over the best of the tuned baselines on `cuts` (made with
    `default_and_tuned_baselines`), its coverage beside tuned ALS's."""
    return lead(
        cuts,
        default=DEFAULT_LABEL,
        baselines=list(BASELINE_GRIDS),
        coverage_baseline=COVERAGE_BASELINE,
        k=k,
    )
