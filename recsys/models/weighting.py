"""How much each interaction says about a reader's taste.

A loan is the strongest signal, renewals and holds follow, catalog views are the weakest. A book
the reader said they read elsewhere (``already_read``) weighs as a loan, and ``liked`` adds as
much again to a book they borrowed; ``not_interested`` weighs nothing here: it is a negative
signal, which removes the (reader, book) pair from the positive data
(`recsys.models.ranking.Pairs`) and which a model may learn from on its own. Older
events fade with a configurable half-life measured from the newest event of the training data, and
repeat loans of one book add up on a log scale: the third loan says "liked it", not "3x as much".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    Events.LOAN: 1.0,
    Events.RENEWAL: 0.5,
    Events.HOLD: 0.5,
    Events.VIEW: 0.1,
    Feedback.ALREADY_READ: 1.0,
    Feedback.LIKED: 1.0,
    Feedback.NOT_INTERESTED: 0.0,
}
SECONDS_PER_DAY = 86_400.0


def timestamps_seconds(values: pd.Series) -> np.ndarray:
    """Unix seconds of a datetime (tz-aware or naive UTC) or numeric column; NaN where missing."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    stamps = pd.to_datetime(values, utc=True)
    seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


def check_event_weights(event_weights: Mapping[str, float] | None) -> dict[str, float]:
    """Defaults completed with the overrides; refuses unknown events and negative weights."""
    weights = dict(DEFAULT_EVENT_WEIGHTS)
    for event, weight in (event_weights or {}).items():
        if event not in DEFAULT_EVENT_WEIGHTS:
            raise ValueError(
                f"event_weights has unknown event {event!r}; known: {sorted(DEFAULT_EVENT_WEIGHTS)}"
            )
        if not weight >= 0:
            raise ValueError(f"event_weights[{event!r}] must be >= 0; got {weight!r}")
        weights[event] = float(weight)
    return weights


def check_half_life(half_life_days: float | None) -> float | None:
    if half_life_days is not None and not half_life_days > 0:
        raise ValueError(f"half_life_days must be positive or None; got {half_life_days!r}")
    return half_life_days


def event_weights(
    interactions: pd.DataFrame,
    *,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    reference_time: float | None = None,
) -> np.ndarray:
    """One weight per interaction row: event weight x recency decay.

    `reference_time` (Unix seconds) is "now" for the decay; events after it do not grow.
    """
    weights = check_event_weights(event_weights)
    # a handful of distinct events: look weights up per code, not per row (a missing event is
    # a loan, code -1 picks the last entry)
    codes, uniques = pd.factorize(interactions[C.EVENT])
    events = [str(event) for event in uniques]
    unknown = sorted(set(events) - set(weights))
    if unknown:
        raise ValueError(
            f"interactions have unknown event values {unknown}; known: {sorted(weights)}"
        )
    base = np.array([weights[event] for event in [*events, Events.LOAN]], dtype=np.float64)[codes]
    half_life = check_half_life(half_life_days)
    if half_life is None or reference_time is None:
        return base
    seconds = timestamps_seconds(interactions[C.TIMESTAMP])
    age_days = np.clip((reference_time - seconds) / SECONDS_PER_DAY, 0.0, None)
    decay = np.where(np.isnan(age_days), 1.0, np.power(0.5, age_days / half_life))
    return base * decay


def latest_time(interactions: pd.DataFrame) -> float | None:
    """The newest timestamp (Unix seconds), the reference point of the decay."""
    if C.TIMESTAMP not in interactions or interactions.empty:
        return None
    seconds = timestamps_seconds(interactions[C.TIMESTAMP])
    return None if np.all(np.isnan(seconds)) else float(np.nanmax(seconds))


def compensated_sums(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group sums of `values` in row order, Kahan-compensated like pandas' groupby sum.

    Fold-in weighs a reader's few new events without pandas' per-call overhead; summing the way
    `ranking.Pairs` does keeps those weights equal to the training weights bit for bit.
    """
    order = np.argsort(groups, kind="stable")
    ordered, addends = groups[order], values[order]
    counts = np.bincount(ordered, minlength=n_groups)
    rank = np.arange(len(ordered)) - (np.cumsum(counts) - counts)[ordered]
    total = np.zeros(n_groups)
    compensation = np.zeros(n_groups)
    for step in range(int(counts.max(initial=0))):
        at = rank == step
        group = ordered[at]
        y = addends[at] - compensation[group]
        t = total[group] + y
        compensation[group] = t - total[group] - y
        total[group] = t
    return total
