"""The hybrid's walks part: its own list on the checkerboard, the exponents its tuning chooses,
and bundles saved before it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.array_files import load_arrays, save_arrays
from recsys.data.dataset import Dataset
from recsys.models.base import ARRAYS_DIR
from recsys.models.hybrid import (
    COMPONENTS,
    WALK_ALPHAS,
    WALK_BETAS,
    WALK_NEIGHBOURS,
    HybridRecommender,
    _list_ndcg,
)
from recsys.models.matrix import keep_columns
from recsys.models.rp3beta import rp3beta_similarity
from tests.models.conftest import FAST_PARAMS, block_books, block_readers, checkerboard
from tests.models.test_fit_equivalence import messy_interactions

ONLY = {part: 0.0 for part in COMPONENTS}


def test_the_walks_part_alone_recommends_from_the_readers_block() -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"], weights={**ONLY, "walks": 1.0})  # type: ignore[arg-type]
    model.fit(checkerboard())
    assert model.walks_.nnz > 0
    recs = model.recommend(block_readers("b"), k=2)
    assert set(recs["book_id"]) <= set(block_books("b"))


def save_without_part(folder: Path, part: str, dropped: Callable[[str], bool]) -> None:
    """Rewrite the bundle in `folder` as saved before `part` (the last of the parts then): its
    arrays (`dropped`) and the blend weights from its own on removed."""
    arrays_dir = folder / ARRAYS_DIR
    arrays = {
        key: np.array(value) for key, value in load_arrays(arrays_dir).items() if not dropped(key)
    }
    arrays["model.weights"] = arrays["model.weights"][: COMPONENTS.index(part)]
    save_arrays(arrays_dir, arrays)  # removes the dropped arrays' files


def test_a_bundle_saved_before_the_walks_part_loads_without_it(tmp_path: Path) -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"]).fit(checkerboard())  # type: ignore[arg-type]
    model.save(tmp_path)
    save_without_part(tmp_path, "walks", lambda key: key.startswith("model.walks."))
    loaded = HybridRecommender.load(tmp_path)
    assert loaded.blend["walks"] == 0.0
    assert loaded.walks_.shape == model.walks_.shape and loaded.walks_.nnz == 0
    readers = block_readers("a")[:3]
    assert len(loaded.recommend(readers, k=3)) == 9


def next_loans(data: Dataset, readers: list[str], books: list[str]) -> pd.DataFrame:
    """Every pair of `readers` with a book of `books` they have not borrowed."""
    loans = data.interactions
    own = {r: set(loans.loc[loans["reader_id"] == r, "book_id"]) for r in readers}
    pairs = [(r, b) for r in readers for b in books if b not in own[r]]
    return pd.DataFrame(pairs, columns=["reader_id", "book_id"])


def test_tuning_the_walks_keeps_the_fitted_exponents_when_no_other_is_clearly_better() -> None:
    """On the checkerboard every setting's walks list exactly the reader's block (the lists
    are as long as the block): none is better, and the fitted walks stay."""
    board = checkerboard()
    model = HybridRecommender(**FAST_PARAMS["hybrid"], walk_alpha=1.0, walk_beta=0.5)  # type: ignore[arg-type]
    model.fit(board)
    fitted = model.walks_.copy()
    readers = block_readers("a")
    assert model.tune_walks(np.array(readers), next_loans(board, readers, block_books("a"))) == (
        1.0,
        0.5,
    )
    assert (model.walks_ != fitted).nnz == 0


def walks(model: HybridRecommender, alpha: float, beta: float) -> sparse.csr_matrix:
    """The walks part `model` fits with these exponents."""
    return rp3beta_similarity(
        keep_columns(model.matrix_, model.supported_),
        alpha=alpha,
        beta=beta,
        neighbours=WALK_NEIGHBOURS,
        min_readers=model.min_pair_support,
    )


def test_tuned_walks_are_the_best_of_the_grid_and_refit_the_part() -> None:
    data = Dataset.from_interactions(messy_interactions(seed=4, n=6000))
    model = HybridRecommender(**FAST_PARAMS["hybrid"])  # type: ignore[arg-type]
    model.fit_for_reader_lists(data)
    readers = list(model.readers_.ids[:200])
    relevant = next_loans(data, readers, list(model.books_.ids[:40]))
    chosen = model.tune_walks(np.array(readers), relevant)
    assert chosen[0] in WALK_ALPHAS and chosen[1] in WALK_BETAS
    assert tuple(model.walk_exponents_) == chosen
    assert (abs(model.walks_ - walks(model, *chosen)) > 1e-6).nnz == 0
    # it moves from the fitted exponents only to the grid's best mean
    _, rows, _ = model.reader_rows(readers, None)
    batch = [(keep_columns(rows, model.supported_), model._own_books(rows))]
    targets = model._validation_targets(np.array(readers), relevant)
    means = {
        (alpha, beta): _list_ndcg(walks(model, alpha, beta), batch, targets).mean()
        for alpha in WALK_ALPHAS
        for beta in WALK_BETAS
    }
    assert len(set(means.values())) > 1  # the grid's walks list these loans differently
    assert means[chosen] >= means[(1.0, 0.5)]
    assert chosen == (1.0, 0.5) or means[chosen] == max(means.values())


def test_walk_exponents_survive_save_and_load_and_older_bundles_walk_with_the_defaults(
    tmp_path: Path,
) -> None:
    model = HybridRecommender(**FAST_PARAMS["hybrid"], walk_alpha=0.5, walk_beta=0.7)  # type: ignore[arg-type]
    model.fit(checkerboard()).save(tmp_path)
    loaded = HybridRecommender.load(tmp_path)
    assert loaded.walk_exponents_.tolist() == [0.5, 0.7]
    folder = tmp_path / ARRAYS_DIR
    arrays = {k: np.array(v) for k, v in load_arrays(folder).items() if k != "model.walk_exponents"}
    save_arrays(folder, arrays)
    assert HybridRecommender.load(tmp_path).walk_exponents_.tolist() == [0.5, 0.7]


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.5), (1.0, -0.1)])
def test_walk_exponents_out_of_range_are_refused(alpha: float, beta: float) -> None:
    with pytest.raises(ValueError, match="walk_alpha must be > 0 and walk_beta >= 0"):
        HybridRecommender(walk_alpha=alpha, walk_beta=beta)
