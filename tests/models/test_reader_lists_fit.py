"""`fit_for_reader_lists` skips what only similar books need; `fitted_params` refits a model's
own choices without searching again (the nightly evaluates and publishes the same blend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.dataset import Dataset
from recsys.exceptions import NotFittedError
from recsys.models.hybrid import DEFAULT_WEIGHTS, HybridRecommender
from recsys.models.registry import build_model
from recsys.tuning.validation import blend_validation
from tests.models.conftest import FAST_PARAMS, block_books, block_readers, checkerboard
from tests.models.test_fit_equivalence import messy_interactions

COLLABORATIVE = ["als", "als_default", "bpr", "knn", "hybrid"]


@pytest.mark.parametrize("name", sorted(FAST_PARAMS))
def test_reader_lists_fit_lists_what_a_full_fit_lists(name: str) -> None:
    board = checkerboard()
    readers = block_readers("a")[:5] + block_readers("b")[:5]
    full = build_model(name, **FAST_PARAMS[name]).fit(board)
    lean = build_model(name, **FAST_PARAMS[name]).fit_for_reader_lists(board)
    assert lean.recommend(readers, k=4).equals(full.recommend(readers, k=4))


@pytest.mark.parametrize("name", sorted(FAST_PARAMS))
def test_reader_lists_fit_builds_the_content_vectors_only_for_models_that_list_with_them(
    name: str,
) -> None:
    lean = build_model(name, **FAST_PARAMS[name]).fit_for_reader_lists(checkerboard())
    full = build_model(name, **FAST_PARAMS[name]).fit(checkerboard())
    assert full.content_.shape[1] > 0
    expected = full.content_.shape[1] if name in ("content", "hybrid") else 0
    assert lean.content_.shape[1] == expected


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_reader_lists_fit_refuses_similar_books_and_saving(name: str, tmp_path: Path) -> None:
    model = build_model(name, **FAST_PARAMS[name]).fit_for_reader_lists(checkerboard())
    refused = "fitted for readers' lists only"
    with pytest.raises(NotFittedError, match=refused):
        model.similar_books(block_books("a")[:2], k=3)
    with pytest.raises(NotFittedError, match=refused):
        model.save(tmp_path)
    model.fit(checkerboard())  # a full fit makes it whole again
    assert len(model.similar_books(block_books("a")[:2], k=3)) == 6


def test_a_tuned_hybrid_refits_its_chosen_blend_without_tuning() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=4, n=6000))
    params = {**FAST_PARAMS["hybrid"], "tune_weights": True}
    tuned = build_model("hybrid", **params).fit(dataset)
    fixed = tuned.fitted_params()
    assert fixed["tune_weights"] is False
    assert fixed["weights"] == tuned.blend and fixed["popularity_penalty"] == tuned.penalty
    assert (tuned.blend, tuned.penalty) != (DEFAULT_WEIGHTS, 0.0)  # it did tune something
    # the tuned fit's ALS went on from its tuning fit's factors: so does the refit, to be exact
    refit = build_model("hybrid", **fixed)
    refit.start_next_fit_from(tuning_fit(params, dataset).starting_factors()).fit(dataset)
    readers = list(tuned.readers_.ids[:30])
    assert refit.blend == tuned.blend and refit.part_scale_ == tuned.part_scale_
    assert np.array_equal(refit.als_.item_factors, tuned.als_.item_factors)
    assert refit.recommend(readers, k=5).equals(tuned.recommend(readers, k=5))


def tuning_fit(params: dict[str, object], dataset: Dataset) -> HybridRecommender:
    """The fit a tuning hybrid chooses its blend with, rebuilt: the same parameters without
    tuning, on the training part of its validation split."""
    seed = int(params.get("random_state") or 0)  # type: ignore[call-overload]
    validation = blend_validation(dataset, share=0.1, seed=seed)
    assert validation is not None
    model = HybridRecommender(**{**params, "tune_weights": False})  # type: ignore[arg-type]
    return model.fit_for_reader_lists(validation.train)


def test_a_model_that_tunes_nothing_refits_with_its_own_parameters() -> None:
    model = build_model("als", **FAST_PARAMS["als"]).fit(checkerboard())
    assert model.fitted_params() == model.get_params()
    with pytest.raises(NotFittedError):
        build_model("als").fitted_params()
