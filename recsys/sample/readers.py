"""Readers: home library (branch or member), audience group, heavy-tailed activity, drifting tastes.

A taste is four subject slots with weights before (`w0`) and after (`w1`) a change of interests
around a reader's own `change_day` (a life event: a child is born, a new job, a new favourite
author); the shift takes a few months. The fourth slot starts at zero and is how a new interest
appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.columns import Audiences
from recsys.sample.catalog import Catalog
from recsys.sample.config import SampleConfig

SLOTS = 4
ACTIVITY_SIGMA = 1.3
DRIFT_DAYS = 45.0  # scale of the logistic shift from w0 to w1
ACTIVITY_CAP = 40.0  # x the median reader: at 15 loans per reader on average, ~250 in two years
# Rows: reader audience group; columns: book audience (children, young adult, adult).
AFFINITY = np.array(
    [
        [1.0, 0.12, 0.0],
        [0.12, 1.0, 0.3],
        [0.08, 0.06, 1.0],
    ]
)
GROUP_SHARE = np.array([0.2, 0.1, 0.7])


@dataclass(frozen=True)
class Readers:
    """Readers as parallel arrays (index = reader position)."""

    ids: np.ndarray  # object, "P" + 7 digits
    home: np.ndarray  # int16 branch (a member library in a consortium)
    group: np.ndarray  # int8 audience group
    activity: np.ndarray  # float64, relative borrowing rate
    first_day: np.ndarray  # int32, first day of membership in the window
    last_day: np.ndarray  # int32, last day
    change_day: np.ndarray  # float64, middle of the taste shift
    taste: np.ndarray  # int16 (readers x SLOTS) subject indices
    w0: np.ndarray  # float32 (readers x SLOTS)
    w1: np.ndarray  # float32 (readers x SLOTS)
    explore_keys: np.ndarray  # float64, stacked CDFs over subjects per audience group

    def __len__(self) -> int:
        return len(self.home)


def build_readers(
    config: SampleConfig, catalog: Catalog, home_share: np.ndarray, rng: np.random.Generator
) -> Readers:
    """Generate readers; each has 1-3 subjects suited to their age group and may drift.

    `home_share` is each home library's (branch or member) share of the readers.
    """
    n = config.readers
    homes = len(home_share)
    home = rng.choice(homes, p=home_share, size=n).astype(np.int16)
    # Libraries differ in how many families use them (local demand the models can pick up).
    child_boost = rng.uniform(0.5, 1.6, homes)
    group_p = GROUP_SHARE[None, :] * np.stack([child_boost, np.ones(homes), np.ones(homes)], axis=1)
    group_p /= group_p.sum(axis=1, keepdims=True)
    cum = np.cumsum(group_p, axis=1)[home]
    group = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 2).astype(np.int8)

    activity = np.minimum(rng.lognormal(0.0, ACTIVITY_SIGMA, n), ACTIVITY_CAP)
    first_day = np.where(rng.random(n) < 0.3, rng.integers(0, config.days - 30, n), 0)
    leaves = rng.random(n) < 0.2
    last_day = np.where(
        leaves,
        first_day + 30 + (rng.random(n) * (config.days - 30 - first_day)).astype(int),
        config.days - 1,
    )

    propensity = AFFINITY[:, catalog.subject_audience] * catalog.subject_demand[None, :]
    # Gumbel top-k: distinct subjects per reader, drawn in proportion to their propensity.
    uniform = rng.random((n, len(catalog.subject_demand)), dtype=np.float32)
    with np.errstate(divide="ignore"):
        scores = np.log(propensity[group]).astype(np.float32) - np.log(-np.log(uniform))
    taste = np.argsort(-scores, axis=1, kind="stable")[:, :SLOTS].astype(np.int16)
    suitable = np.isfinite(np.take_along_axis(scores, taste.astype(np.intp), axis=1))

    n_taste = rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2], size=n)
    active = (np.arange(SLOTS)[None, :] < n_taste[:, None]) & suitable
    w0 = np.where(active, rng.gamma(1.5, size=(n, SLOTS)), 0.0)
    drifts = rng.random(n) < config.drift_share
    new_interest = drifts & (rng.random(n) < 0.5)
    active1 = active.copy()
    active1[:, SLOTS - 1] |= new_interest & suitable[:, SLOTS - 1]
    w1 = np.where(active1, rng.gamma(0.6, size=(n, SLOTS)), 0.0)  # settle on fewer
    w1 = np.where(drifts[:, None], w1, w0)
    explore_cdf = np.cumsum(propensity / propensity.sum(axis=1, keepdims=True), axis=1)
    explore_cdf[:, -1] = 1.0
    explore_keys = (np.arange(len(Audiences.ALL))[:, None] + explore_cdf).ravel()
    return Readers(
        ids=_card_numbers(n, rng),
        home=home,
        group=group,
        activity=activity,
        first_day=first_day.astype(np.int32),
        last_day=last_day.astype(np.int32),
        change_day=rng.uniform(first_day, last_day + 1),
        taste=taste,
        w0=(w0 / w0.sum(axis=1, keepdims=True)).astype(np.float32),
        w1=(w1 / w1.sum(axis=1, keepdims=True)).astype(np.float32),
        explore_keys=explore_keys,
    )


def draw_subjects(
    readers: Readers,
    reader: np.ndarray,
    day: np.ndarray,
    explore_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The subject of each event: from the reader's taste on that day, or exploring."""
    shift = (day - readers.change_day[reader]) / DRIFT_DAYS
    f = (1.0 / (1.0 + np.exp(-np.clip(shift, -50, 50)))).astype(np.float32)[:, None]
    weights = readers.w0[reader] * (1 - f) + readers.w1[reader] * f
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(reader), dtype=np.float32) * cum[:, -1]
    slot = (u[:, None] >= cum[:, :-1]).sum(axis=1)
    subject = readers.taste[reader, slot]
    explore = np.flatnonzero(rng.random(len(reader)) < explore_share)
    if len(explore):
        n_subjects = len(readers.explore_keys) // len(Audiences.ALL)
        group = readers.group[reader[explore]].astype(np.float64)
        position = np.searchsorted(
            readers.explore_keys, group + rng.random(len(explore)), side="right"
        )
        subject[explore] = position - group.astype(np.int64) * n_subjects
    return subject


def _card_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct library card numbers like "P0012345", in no meaningful order."""
    numbers = rng.choice(10_000_000, size=n, replace=False)
    return np.array([f"P{x:07d}" for x in numbers.tolist()], dtype=object)
