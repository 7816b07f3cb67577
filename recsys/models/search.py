"""Time-budgeted hyper-parameter search on a validation split carved from training data only.

The nightly run can switch it on (`Settings.search_enabled`, `search_budget_seconds`). The outer
test set is never seen: pass the training `Dataset` and the search splits it again (the last
`test_share` of its loans, only books new to the reader), scoring each candidate by NDCG@k with
`recsys.evaluation`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_recommendations, recommend_in_batches
from recsys.evaluation.splits import Split, validation_split
from recsys.models.base import check_k
from recsys.models.registry import build_model

#: What `search` explores when no grid is given.
DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "als": {
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.1, 1.0],
        "alpha": [1.0, 10.0, 40.0],
    },
    "als_default": {
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.1, 1.0],
        "alpha": [1.0, 10.0, 40.0],
    },
    "knn": {"neighbours": [50, 200, 1000], "bm25_k1": [0.5, 1.2, 3.0], "bm25_b": [0.5, 0.75, 1.0]},
    "bpr": {"factors": [32, 64], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01]},
    "hybrid": {
        "factors": [32, 64],
        "reader_neighbours": [50, 200],
        "als_half_life_days": [90.0, 365.0, None],
    },
    "popularity": {"half_life_days": [30.0, 90.0, 365.0, None]},
    "content": {"half_life_days": [30.0, 365.0, None]},
}


@dataclass(frozen=True)
class SearchResult:
    """The best parameters found and one row per evaluated candidate (best first)."""

    best_params: dict[str, Any]
    best_score: float
    table: pd.DataFrame
    metric: str


def candidates(
    grid: Mapping[str, Sequence[Any]], *, method: str, n_iter: int | None, seed: int
) -> list[dict[str, Any]]:
    """Every grid point (``grid``) or `n_iter` distinct random ones (``random``)."""
    keys = list(grid)
    points = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    if method == "grid":
        return points
    if method != "random":
        raise ValueError(f"method must be 'grid' or 'random'; got {method!r}")
    order = np.random.default_rng(seed).permutation(len(points))
    return [points[i] for i in order[: n_iter or len(points)]]


def search(
    name: str,
    train: Dataset,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    budget_seconds: float = 300.0,
    method: str = "grid",
    n_iter: int | None = None,
    k: int = 10,
    test_share: float = 0.1,
    seed: int = 42,
    validation: Split | None = None,
) -> SearchResult:
    """Evaluate candidates of model `name` until the budget is spent; return the best.

    The first candidate is always evaluated (even past the budget); later ones are started only
    while time remains. `base_params` are shared by every candidate (for example a seed).
    `validation`, if given, is the split of `train` to score on (`validation_split`), so that
    several searches on one training set carve it once.
    """
    k = check_k(k)
    if not budget_seconds > 0:
        raise ValueError(f"budget_seconds must be positive; got {budget_seconds!r}")
    grid = DEFAULT_GRIDS.get(name, {}) if grid is None else grid
    points = candidates(grid, method=method, n_iter=n_iter, seed=seed) or [{}]
    split = validation or validation_split(train, method="temporal", test_share=test_share)
    readers = list(split.test_readers)
    metric = f"ndcg@{k}"
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for params in points:
        if rows and time.perf_counter() - started > budget_seconds:
            break
        model = build_model(name, **{**(base_params or {}), **params})
        fit_started = time.perf_counter()
        model.fit(split.train)
        fit_seconds = time.perf_counter() - fit_started
        recs = recommend_in_batches(model, readers, k=k)
        score = evaluate_recommendations(recs, split, k=k).summary[metric]
        rows.append({**params, metric: score, "fit_seconds": fit_seconds})
    best = max(range(len(rows)), key=lambda i: (rows[i][metric], -i))
    table = pd.DataFrame(rows).sort_values(metric, ascending=False, kind="stable")
    return SearchResult(
        best_params={**(base_params or {}), **points[best]},
        best_score=float(rows[best][metric]),
        table=table.reset_index(drop=True),
        metric=metric,
    )
