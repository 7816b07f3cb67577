"""Branch popularity and home branches from the fit's integer pair keys equal the plain
string grouping they replaced (kept here as the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.popularity import NO_LIBRARY, PopularityRecommender
from recsys.models.weighting import event_weights, latest_time
from tests.models.test_fit_equivalence import messy_interactions


def with_branches(seed: int) -> pd.DataFrame:
    """Messy interactions at three branches, some rows without a branch."""
    frame = messy_interactions(seed=seed)
    rng = np.random.default_rng(seed)
    branches = rng.choice(np.array(["north", "east", "west", None], dtype=object), len(frame))
    return frame.assign(**{C.LIBRARY_ID: branches})


def reference(frame: pd.DataFrame, half_life: float) -> tuple[pd.Series, pd.Series]:
    """Per (branch, book) damped reader sums, and each reader's home branch, grouped on strings."""
    weights = event_weights(frame, half_life_days=half_life, reference_time=latest_time(frame))
    table = pd.DataFrame(
        {
            C.LIBRARY_ID: frame[C.LIBRARY_ID].fillna(NO_LIBRARY).astype(str).to_numpy(),
            C.READER_ID: frame[C.READER_ID].astype(str).to_numpy(),
            C.BOOK_ID: frame[C.BOOK_ID].astype(str).to_numpy(),
            C.WEIGHT: weights,
        }
    )
    per_reader = table.groupby([C.LIBRARY_ID, C.READER_ID, C.BOOK_ID], sort=False)[C.WEIGHT].sum()
    per_book = np.log2(1.0 + per_reader).groupby(level=[C.LIBRARY_ID, C.BOOK_ID]).sum()
    counts = table.groupby([C.READER_ID, C.LIBRARY_ID], sort=True).size()
    ranked = counts.sort_values(ascending=False, kind="stable").reset_index()
    home = ranked.drop_duplicates(C.READER_ID).set_index(C.READER_ID)[C.LIBRARY_ID]
    return per_book[per_book > 0], home


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("half_life", [90.0, 7.0])
def test_branch_popularity_and_homes_equal_the_string_grouping(seed: int, half_life: float) -> None:
    frame = with_branches(seed)
    model = PopularityRecommender(half_life_days=half_life).fit(Dataset.from_interactions(frame))
    per_book, home = reference(frame, half_life)
    rows = model.libraries_.index(per_book.index.get_level_values(C.LIBRARY_ID))
    cols = model.books_.index(per_book.index.get_level_values(C.BOOK_ID))
    assert model.by_library_.nnz == len(per_book) > 100
    # bit for bit, not approximately
    assert np.array_equal(
        np.asarray(model.by_library_[rows, cols]).ravel(), per_book.to_numpy(np.float32)
    )
    readers = model.readers_.index(home.index)
    known = readers >= 0
    homes = model.libraries_.ids[model.reader_library_[readers[known]]]
    assert homes.tolist() == home.to_numpy()[known].tolist()
    assert (model.reader_library_ >= 0).all()
