"""Hyper-parameter search: candidates, budget, validation carved from training only."""

from __future__ import annotations

import pytest

from recsys.data.dataset import Dataset
from recsys.models.search import candidates, search


def test_grid_lists_every_point_and_random_a_reproducible_subset() -> None:
    grid = {"a": [1, 2, 3], "b": ["x", "y"]}
    assert len(candidates(grid, method="grid", n_iter=None, seed=0)) == 6
    first = candidates(grid, method="random", n_iter=3, seed=5)
    assert first == candidates(grid, method="random", n_iter=3, seed=5)
    assert len(first) == 3
    assert len({tuple(p.items()) for p in first}) == 3


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method must be 'grid' or 'random'; got 'bayes'"):
        candidates({"a": [1]}, method="bayes", n_iter=None, seed=0)


def test_search_returns_the_best_row_of_its_table(board: Dataset) -> None:
    result = search("popularity", board, grid={"half_life_days": [7.0, None]}, budget_seconds=60)
    assert len(result.table) == 2
    assert result.best_score == result.table[result.metric].max()
    assert result.best_params["half_life_days"] in (7.0, None)


def test_budget_stops_after_the_first_candidate(board: Dataset) -> None:
    result = search(
        "popularity", board, grid={"half_life_days": [7.0, 30.0, 90.0, None]}, budget_seconds=1e-9
    )
    assert len(result.table) == 1


def test_budget_must_be_positive(board: Dataset) -> None:
    with pytest.raises(ValueError, match="budget_seconds must be positive; got 0"):
        search("popularity", board, budget_seconds=0)


def test_best_params_keep_their_python_types(board: Dataset) -> None:
    result = search(
        "knn", board, grid={"neighbours": [5, 50], "similarity": ["cosine"]}, budget_seconds=60
    )
    assert isinstance(result.best_params["neighbours"], int)
    assert result.best_params["similarity"] == "cosine"
