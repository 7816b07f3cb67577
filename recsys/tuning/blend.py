"""Choosing a blend of a model's parts on validation shortlists: the weight of each part, the
exponent of the popularity penalty and the way parts are put on one scale per reader.

A model hands over `Shortlists` (each part's scores on the validation readers' shortlists, and
which books there are their next loans); `tune_blend` returns the `Blend` that maximises
NDCG@`TUNE_K` among blends whose lists cover at least as much of the catalog as the ALS part's
alone, so that accuracy is never bought by showing everyone the same books. It leaves the given
blend only for gains beyond the noise of the validation readers (`MIN_GAIN_STANDARD_ERRORS`), and
bags its choice: the mean of the choices made on bootstrap resamples of those readers
(`TUNING_RESAMPLES`). Why each default has its value, with the figures, is in
`docs/quality.md`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from recsys.evaluation.metrics import ndcg_from_hits

WEIGHT_STEPS = (0.0, 0.1, 0.3, 1.0, 3.0)
#: Tuned lists must cover at least this share of the books the ALS part alone covers.
COVERAGE_FLOOR = 1.0
#: A tuning step is taken only if its NDCG@10 gain over the current blend exceeds this many
#: standard errors of the per-reader gains: smaller gains are noise on a few thousand validation
#: readers, and following them moved blends away from ones that did better on later loans.
MIN_GAIN_STANDARD_ERRORS = 1.0
#: The tuned weights and penalty are the mean of the choices made on this many bootstrap resamples
#: of the validation readers (bagging): one greedy climb follows the noise of its readers to one
#: corner of the grid, and the mean of many climbs lands between grid points. Fewer resamples
#: vary more between resample seeds; each one's climb adds to the fit's time.
TUNING_RESAMPLES = 24
#: Exponents of the popularity penalty the tuning may choose: the strongest lets a library whose
#: readers move in cohorts widen its lists; each further step adds to every climb's trials.
PENALTY_STEPS = (0.0, 0.25, 0.5)
TUNE_K = 10

Choice = TypeVar("Choice")


class Blend(NamedTuple):
    """A blend: weights by part, the popularity penalty's exponent and the part scale."""

    weights: dict[str, float]
    penalty: float
    part_scale: str


class Shortlists:
    """What blend tuning scores: each part's scores on the validation readers' shortlists.

    ``scores`` is parts x readers x shortlist, each part (named by ``parts``) scaled by its
    maximum per reader (-inf marks padding and repeats); ``best_mean_factors`` (parts x readers)
    rescales them to the mean of the part's best books new to the reader. These are the
    hybrid's two part scales, ``maximum`` and ``best_mean`` (`scales`). ``books`` and ``hits``
    are readers x shortlist; ``n_relevant`` counts each reader's next loans (readers without
    any are not scored); ``log_readers`` is ``log(1 + distinct readers)`` per book of the model,
    the scale of the popularity penalty, which spares each list's first ``penalty_free_books``
    books as the model's lists do.
    """

    def __init__(
        self,
        *,
        parts: tuple[str, ...],
        scores: np.ndarray,
        best_mean_factors: np.ndarray,
        books: np.ndarray,
        hits: np.ndarray,
        n_relevant: np.ndarray,
        log_readers: np.ndarray,
        penalty_free_books: int,
    ) -> None:
        self.parts = parts
        self.books = books
        self.hits = hits
        self.n_relevant = n_relevant
        self.log_readers = log_readers
        self.penalty_free_books = penalty_free_books
        # what every trial blend shares, computed once: tuning scores a few hundred blends
        by_maximum = np.where(np.isfinite(scores), scores, 0.0).astype(np.float32)
        self.values = {
            "maximum": by_maximum,
            "best_mean": by_maximum * best_mean_factors[:, :, None].astype(np.float32),
        }
        self.padding = ~np.isfinite(scores[0])
        self.book_log_readers = log_readers[books].astype(np.float32)
        self.scored = n_relevant > 0
        self.scored_relevant = n_relevant[self.scored]
        self._scores: dict[tuple[bytes, float, str], BlendScore] = {}
        self._penalty_factors: dict[float, np.ndarray] = {}

    @property
    def scales(self) -> tuple[str, ...]:
        """The part scales a blend may use."""
        return tuple(self.values)

    @property
    def n_scored(self) -> int:
        """How many validation readers have next loans to find."""
        return len(self.scored_relevant)

    def score(self, weights: np.ndarray, penalty: float, part_scale: str) -> BlendScore:
        """NDCG@10 per scored reader and catalog coverage@10 of the blend on the shortlists
        (remembered: the bagged tuning's climbs try many of the same blends)."""
        key = (np.asarray(weights, dtype=np.float64).tobytes(), float(penalty), part_scale)
        if key not in self._scores:
            self._scores[key] = self._score(weights, penalty, part_scale)
        return self._scores[key]

    def _score(self, weights: np.ndarray, penalty: float, part_scale: str) -> BlendScore:
        # negated in place, padding last: every copy of readers x shortlist adds to each trial
        cost = np.tensordot(-weights.astype(np.float32), self.values[part_scale], axes=1)
        np.copyto(cost, np.float32(np.inf), where=self.padding)
        if penalty:  # as the model's lists: the head keeps its unpenalised cost
            rows = np.arange(len(cost))[:, None]
            head_size = self.penalty_free_books
            head = np.argpartition(cost, min(head_size, cost.shape[1]) - 1, axis=1)
            head = head[:, :head_size]
            best = cost[rows, head]
            cost *= self._penalty_factor(penalty)
            cost[rows, head] = best
        size = min(TUNE_K, cost.shape[1])
        top = np.argpartition(cost, size - 1, axis=1)[:, :size]
        top_costs = np.take_along_axis(cost, top, 1)
        order = np.argsort(top_costs, axis=1)
        top = np.take_along_axis(top, order, 1)
        top_costs = np.take_along_axis(top_costs, order, 1)
        hits = np.take_along_axis(self.hits, top, 1)[self.scored]
        shown = np.take_along_axis(self.books, top, 1)[np.isfinite(top_costs)]
        return BlendScore(
            ndcg=ndcg_from_hits(hits, self.scored_relevant, TUNE_K),
            coverage=len(np.unique(shown)) / len(self.log_readers),
        )

    def _penalty_factor(self, penalty: float) -> np.ndarray:
        if penalty not in self._penalty_factors:
            self._penalty_factors[penalty] = np.exp(-np.float32(penalty) * self.book_log_readers)
        return self._penalty_factors[penalty]


@dataclass(frozen=True)
class BlendScore:
    """A trial blend's NDCG@10 per scored validation reader and its catalog coverage@10."""

    ndcg: np.ndarray
    coverage: float

    def resampled(self, readers: np.ndarray) -> BlendScore:
        """This blend judged on `readers` (positions among the scored readers, repeats allowed);
        the coverage stays that of every validation reader's list."""
        return BlendScore(ndcg=self.ndcg[readers], coverage=self.coverage)

    def clearly_beats(self, other: BlendScore) -> bool:
        """More accurate than `other` on the same readers by more than the noise
        (`clearly_better`)."""
        return clearly_better(self.ndcg, other.ndcg)


def clearly_better(trial: np.ndarray, current: np.ndarray) -> bool:
    """Per-reader NDCG `trial` beats `current` (the same readers) by more than the noise: the
    mean per-reader gain exceeds `MIN_GAIN_STANDARD_ERRORS` standard errors of the gains."""
    gain = trial - current
    if gain.size == 0:
        return False
    noise = gain.std(ddof=1) / np.sqrt(gain.size) if gain.size > 1 else 0.0
    return float(gain.mean()) > MIN_GAIN_STANDARD_ERRORS * noise


def clearly_best(ndcg: Mapping[Choice, np.ndarray], start: Choice) -> Choice:
    """Of the choices judged by per-reader NDCG on the same validation readers, the one with
    the best mean if it is `clearly_better` than `start`; else `start`."""
    best = max(ndcg, key=lambda choice: float(ndcg[choice].mean()))
    return best if clearly_better(ndcg[best], ndcg[start]) else start


def tune_blend(shortlists: Shortlists, start: Blend, *, seed: int) -> Blend:
    """The blend, bagged over `TUNING_RESAMPLES` climbs from `start`.

    The climb on all validation readers chooses the part scale: between two ways of scaling, its
    one-standard-error rule keeps the given one against noise, where a vote of the resamples
    followed the noise (`docs/quality.md`). On that scale, each resample's climb
    (`coordinate_ascent`, on a bootstrap resample of the scored readers drawn with `seed`)
    chooses weights and a penalty, and their mean is the choice (`mean_choice`).
    """
    full = coordinate_ascent(shortlists, start)
    n_scored = shortlists.n_scored
    if n_scored == 0:
        return full
    scale = full.part_scale
    on_scale = start._replace(part_scale=scale)
    rng = np.random.default_rng(seed)
    choices = [
        coordinate_ascent(
            shortlists, on_scale, scales=(scale,), readers=rng.integers(0, n_scored, n_scored)
        )
        for _ in range(TUNING_RESAMPLES)
    ]
    return mean_choice(shortlists, choices, fallback=full)


def coordinate_ascent(
    shortlists: Shortlists,
    start: Blend,
    *,
    scales: tuple[str, ...] | None = None,
    readers: np.ndarray | None = None,
) -> Blend:
    """Greedy search over `WEIGHT_STEPS` and `PENALTY_STEPS`, on each of `scales` (by default
    all the shortlists have), for the best NDCG@10 whose catalog coverage is at least that of
    the ALS part alone (collaborative filtering's own breadth).

    A blend below that coverage floor only competes on coverage, so the search first widens the
    lists, then improves accuracy; among wide enough blends a step is taken only if it is clearly
    more accurate (`BlendScore.clearly_beats`), so the given blend stays unless the validation
    readers say otherwise. It climbs from the given blend both without and with the strongest
    penalty (the two regions are far apart for greedy steps), first on the given part scale; a
    climb on another scale replaces it only if it is clearly better, by the same rule. Accuracy
    is judged on `readers` (positions among the scored validation readers, a resample), on all
    of them by default.
    """
    floor = _coverage_floor(shortlists, start.part_scale)
    n_parts = len(shortlists.parts)

    def score(weights: np.ndarray, penalty: float, scale: str) -> BlendScore:
        scored = shortlists.score(weights, penalty, scale)
        return scored if readers is None else scored.resampled(readers)

    def better(trial: BlendScore, current: BlendScore) -> bool:
        trial_wide, current_wide = trial.coverage >= floor, current.coverage >= floor
        if trial_wide != current_wide:
            return trial_wide
        if not trial_wide:
            return trial.coverage > current.coverage
        return trial.clearly_beats(current)

    def climb(
        weights: np.ndarray, penalty: float, scale: str
    ) -> tuple[BlendScore, np.ndarray, float, str]:
        best = score(weights, penalty, scale)
        for _ in range(3):
            improved = False
            for i in range(n_parts + 1):
                for step in WEIGHT_STEPS if i < n_parts else PENALTY_STEPS:
                    trial, trial_penalty = weights.copy(), penalty
                    if i < n_parts:
                        trial[i] = step
                    else:
                        trial_penalty = step
                    unchanged = trial_penalty == penalty and (trial == weights).all()
                    if unchanged or not trial.any():
                        continue
                    trial_score = score(trial, trial_penalty, scale)
                    if better(trial_score, best):
                        best, weights, penalty, improved = trial_score, trial, trial_penalty, True
            if not improved:
                break
        return best, weights, penalty, scale

    initial = np.array([start.weights[part] for part in shortlists.parts], dtype=np.float64)
    runs = [
        climb(initial, penalty, scale)
        for scale in dict.fromkeys((start.part_scale, *(scales or shortlists.scales)))
        for penalty in dict.fromkeys((start.penalty, PENALTY_STEPS[-1]))
    ]
    chosen = runs[0]
    for run in runs[1:]:
        if better(run[0], chosen[0]):
            chosen = run
    _, weights, penalty, scale = chosen
    return Blend(dict(zip(shortlists.parts, weights.tolist(), strict=True)), penalty, scale)


def mean_choice(shortlists: Shortlists, choices: list[Blend], *, fallback: Blend) -> Blend:
    """The mean of `choices` (made on `fallback`'s part scale): of their weights, each scaled
    to sum to one (a blend ranks alike at any scale) and then to `fallback`'s total, and of
    their penalties. A mean blend narrower than the ALS part's lists gives way to `fallback`,
    so the coverage floor still holds."""
    scale = fallback.part_scale
    total = sum(fallback.weights.values()) or 1.0
    shares = [_sum_to_one(choice.weights, shortlists.parts) for choice in choices]
    mean_weights = total * np.mean(shares, axis=0)
    mean_penalty = float(np.mean([choice.penalty for choice in choices]))
    mean = shortlists.score(mean_weights, mean_penalty, scale)
    if mean.coverage < _coverage_floor(shortlists, scale):
        return fallback
    return Blend(
        dict(zip(shortlists.parts, mean_weights.tolist(), strict=True)), mean_penalty, scale
    )


def _sum_to_one(weights: dict[str, float], parts: tuple[str, ...]) -> np.ndarray:
    vector = np.array([weights[part] for part in parts], dtype=np.float64)
    return vector / (vector.sum() or 1.0)


def _coverage_floor(shortlists: Shortlists, scale: str) -> float:
    """The coverage a tuned blend must reach: `COVERAGE_FLOOR` times the ALS part's alone (one
    part alone ranks books alike on every scale)."""
    als_only = np.array([part == "als" for part in shortlists.parts], dtype=np.float64)
    return COVERAGE_FLOOR * shortlists.score(als_only, 0.0, scale).coverage
