"""Rolling-origin evaluation: several temporal cuts spread over a log, the earlier ones to choose
on, the later ones to confirm.

A figure measured on one cut of one log says little about the next library: each `Cut` trains on
everything before its moment and tests on the window of loans after it, so the cuts together
show whether a lead holds over time. The earlier cuts are for **development** (choosing defaults,
together with validation carved from training data); the last ones are opened to **confirm**,
and a default chosen by looking at them is tuned on the test.

Each cut's training catalog is the catalog **as of the cut**: a record is in it only if the
library had it then (its ``added_at`` date where the catalog gives one, else a loan or view of it
before the cut), so no model sees future acquisitions. Test loans of records acquired later stay
targets that no model can reach.

`bootstrap_ratio` gives the confidence interval of one model's mean over another's, resampling
test readers (the two models' per-reader figures are paired).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.splits import Split, _finish, _loan_mask

DEVELOPMENT = "development"
CONFIRMATION = "confirmation"
#: Catalog column with the date a record was acquired, where a library exports it.
ADDED_AT = "added_at"


@dataclass(frozen=True)
class Cut:
    """One rolling-origin cut: its number (1 = earliest), role, moment and test window end."""

    number: int
    role: str
    at: pd.Timestamp
    until: pd.Timestamp
    split: Split

    @property
    def name(self) -> str:
        return f"cut {self.number} ({self.at:%Y-%m-%d})"


def rolling_cuts(
    dataset: Dataset,
    *,
    cuts: int = 4,
    first: float = 0.5,
    window: float = 0.1,
    confirming: int = 2,
    only_new: bool = True,
) -> list[Cut]:
    """`cuts` cuts at evenly spaced shares of the loan events (by time), the first after
    `first` of them and the last testing on the final `window`; each tests on the next
    `window` share of loans. The last `confirming` cuts are for confirmation.
    """
    if isinstance(cuts, bool) or not isinstance(cuts, int) or cuts < 2:
        raise ValueError(f"cuts must be an integer of at least 2; got {cuts!r}")
    if not 0 <= confirming < cuts:
        raise ValueError(
            f"confirming must be between 0 and cuts - 1 ({cuts - 1}); got {confirming}"
        )
    if not (0 < window < 1 and first > 0 and first + window < 1):
        raise ValueError(
            f"first and window must be shares with first + window < 1; got {first}, {window}"
        )
    frame = dataset.interactions.reset_index(drop=True)
    is_loan = _loan_mask(frame).to_numpy()
    times = frame[C.TIMESTAMP]
    loan_times = times[is_loan].sort_values(ignore_index=True)
    if len(loan_times) < 2 * cuts:
        raise ValueError(
            f"rolling_cuts needs at least {2 * cuts} loan events; got {len(loan_times)}"
        )
    last = len(loan_times) - 1
    found = []
    for number, share in enumerate(np.linspace(first, 1 - window, cuts), start=1):
        at = loan_times.iloc[min(last, int(np.floor(len(loan_times) * share)))]
        end_share = share + window
        until = loan_times.iloc[min(last, int(np.floor(len(loan_times) * end_share)))]
        before = (times < at).to_numpy()
        after = (times >= at).to_numpy() & (
            (times <= until).to_numpy() if number == cuts else (times < until).to_numpy()
        )
        params = {"cut": number, "share": round(float(share), 4), "window": window}
        split = _finish(
            dataset,
            frame.loc[before],
            frame.loc[after & is_loan],
            kind="rolling",
            params={**params, "only_new": only_new},
            only_new=only_new,
        )
        role = CONFIRMATION if number > cuts - confirming else DEVELOPMENT
        found.append(Cut(number, role, at, until, as_of_cut(split, at)))
    return found


def as_of_cut(split: Split, at: pd.Timestamp) -> Split:
    """`split` with its training catalog and holdings limited to the records the library had at
    `at`: acquired by then (``added_at``), else with an interaction before it."""
    train = split.train
    catalog = train.catalog
    if catalog.empty:
        return split
    book_ids = catalog[C.BOOK_ID].astype(str)
    if ADDED_AT in catalog.columns:
        added = pd.to_datetime(catalog[ADDED_AT], utc=True, errors="coerce")
        known = (added <= at).to_numpy()
        unknown_date = added.isna().to_numpy()
    else:
        known = np.zeros(len(catalog), dtype=bool)
        unknown_date = np.ones(len(catalog), dtype=bool)
    seen = book_ids.isin(pd.Index(train.interactions[C.BOOK_ID].astype(str).unique())).to_numpy()
    kept = known | (unknown_date & seen)
    holdings = train.holdings
    if not holdings.empty:
        holdings = holdings[holdings[C.BOOK_ID].astype(str).isin(book_ids[kept])]
    return replace(
        split,
        train=train.with_catalog(catalog.loc[kept].reset_index(drop=True), holdings),
        params={**split.params, "catalog_records": int(kept.sum())},
    )


def bootstrap_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    resamples: int = 2_000,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The ratio of the means of two models' per-reader figures (paired: the same readers in
    the same order) and its `level` bootstrap interval over readers: (ratio, low, high)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    if numerator.shape != denominator.shape or numerator.ndim != 1 or len(numerator) == 0:
        raise ValueError(
            "numerator and denominator must be equal, non-empty per-reader figures; got shapes "
            f"{numerator.shape} and {denominator.shape}"
        )
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(numerator), size=(resamples, len(numerator)))
    tops = numerator[draws].mean(axis=1)
    bottoms = denominator[draws].mean(axis=1)
    ratios = np.divide(tops, bottoms, out=np.full(resamples, np.nan), where=bottoms > 0)
    tail = (1 - level) / 2
    low, high = np.nanquantile(ratios, [tail, 1 - tail])
    bottom = denominator.mean()
    ratio = numerator.mean() / bottom if bottom > 0 else float("nan")
    return float(ratio), float(low), float(high)
