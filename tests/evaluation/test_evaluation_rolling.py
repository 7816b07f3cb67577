"""Rolling-origin cuts: spread over the log, each training strictly before its moment and testing
on the window after it, the catalog as of the cut; and the bootstrap interval of a ratio."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.rolling import (
    ADDED_AT,
    CONFIRMATION,
    DEVELOPMENT,
    bootstrap_ratio,
    rolling_cuts,
)

START = pd.Timestamp("2024-01-01", tz="UTC")


def _library(days: int = 200, readers: int = 30) -> Dataset:
    rng = np.random.default_rng(0)
    rows = [
        (f"r{r}", f"b{int(rng.integers(0, 40))}", START + pd.Timedelta(days=int(d)))
        for r in range(readers)
        for d in sorted(rng.integers(0, days, size=8))
    ]
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP])
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: [f"b{i}" for i in range(45)],  # b40..b44: nobody borrowed them
            C.TITLE: [f"T{i}" for i in range(45)],
        }
    )
    return Dataset.from_interactions(frame, catalog)


def test_cuts_train_before_their_moment_and_test_on_the_window_after() -> None:
    cuts = rolling_cuts(_library(), cuts=4, first=0.5, window=0.1, confirming=2)
    assert [c.role for c in cuts] == [DEVELOPMENT, DEVELOPMENT, CONFIRMATION, CONFIRMATION]
    assert [c.number for c in cuts] == [1, 2, 3, 4]
    assert all(a.at < b.at for a, b in itertools.pairwise(cuts))
    for cut in cuts:
        train_times = cut.split.train.interactions[C.TIMESTAMP]
        assert (train_times < cut.at).all()
        assert (cut.split.test[C.TIMESTAMP] >= cut.at).all()
        assert (cut.split.test[C.TIMESTAMP] <= cut.until).all()
        assert len(cut.split.test) > 0


def test_the_catalog_is_the_one_the_library_had_at_the_cut() -> None:
    dataset = _library()
    first = rolling_cuts(dataset, cuts=2, confirming=1)[0]
    catalog = set(first.split.train.catalog[C.BOOK_ID])
    borrowed_before = set(first.split.train.interactions[C.BOOK_ID])
    assert catalog == borrowed_before  # no dates: only what was lent or viewed before the cut
    dated = dataset.catalog.assign(
        **{ADDED_AT: [START if i % 2 else START + pd.Timedelta(days=400) for i in range(45)]}
    )
    cut = rolling_cuts(
        Dataset.from_interactions(dataset.interactions, dated), cuts=2, confirming=1
    )[0]
    acquired = set(cut.split.train.catalog[C.BOOK_ID])
    assert acquired == {f"b{i}" for i in range(45) if i % 2}  # by date where the catalog has one


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"cuts": 1}, "cuts must be an integer of at least 2"),
        ({"cuts": 3, "confirming": 3}, "confirming must be between 0 and cuts - 1"),
        ({"first": 0.95, "window": 0.1}, "first and window must be shares"),
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rolling_cuts(_library(), **arguments)  # type: ignore[arg-type]


def test_the_bootstrap_interval_holds_the_ratio_and_narrows_with_readers() -> None:
    rng = np.random.default_rng(1)
    better = rng.random(200) * 0.3
    worse = better * 0.5 + rng.random(200) * 0.01
    ratio, low, high = bootstrap_ratio(better, worse)
    assert low < ratio < high
    assert ratio == pytest.approx(better.mean() / worse.mean())
    _, low_few, high_few = bootstrap_ratio(better[:20], worse[:20])
    assert high - low < high_few - low_few
    with pytest.raises(ValueError, match="equal, non-empty per-reader figures"):
        bootstrap_ratio(better, worse[:10])
