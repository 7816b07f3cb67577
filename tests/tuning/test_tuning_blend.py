"""Blend tuning: it keeps lists as varied as ALS's, ignores gains within the noise of its
validation readers, bags its choice over resamples of them, and scores lists as the hybrid makes
them (the popularity penalty spares their head) with the evaluation's NDCG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.evaluation.metrics import ranking_metrics
from recsys.models.hybrid import COMPONENTS, DEFAULT_WEIGHTS, PENALTY_FREE_BOOKS
from recsys.tuning.blend import (
    MIN_GAIN_STANDARD_ERRORS,
    Blend,
    Shortlists,
    clearly_best,
    coordinate_ascent,
    mean_choice,
    tune_blend,
)

READERS = 30
SHARED = 10
N_BOOKS = 100
START = Blend(DEFAULT_WEIGHTS, 0.0, "maximum")


def hybrid_shortlists(
    *,
    scores: np.ndarray,
    books: np.ndarray,
    hits: np.ndarray,
    n_relevant: np.ndarray,
    best_mean_factors: np.ndarray | None = None,
    log_readers: np.ndarray | None = None,
) -> Shortlists:
    """Shortlists of the hybrid's parts, alike on both part scales unless `best_mean_factors`
    say otherwise, from a catalog of `N_BOOKS` nobody borrowed unless `log_readers` say so."""
    return Shortlists(
        parts=COMPONENTS,
        penalty_free_books=PENALTY_FREE_BOOKS,
        scores=scores,
        best_mean_factors=(
            np.ones(scores.shape[:2]) if best_mean_factors is None else best_mean_factors
        ),
        books=books,
        hits=hits,
        n_relevant=n_relevant,
        log_readers=np.zeros(N_BOOKS) if log_readers is None else log_readers,
    )


def shortlists() -> Shortlists:
    """Every reader's next loans are the 10 shared bestsellers, which popularity ranks first;
    ALS ranks two books of the reader's own first (60 distinct books: wide coverage). The best
    blend as wide as ALS puts 8 bestsellers first and the reader's own two last."""
    width = SHARED + 2
    scores = np.zeros((len(COMPONENTS), READERS, width))
    als, popularity = COMPONENTS.index("als"), COMPONENTS.index("popularity")
    scores[als, :, :SHARED] = 0.5 - 0.01 * np.arange(SHARED)
    scores[als, :, SHARED:] = [1.0, 0.9]
    scores[popularity, :, :SHARED] = np.where(
        np.arange(SHARED) < 8, 1.0 - 0.05 * np.arange(SHARED), 0.1
    )
    own = SHARED + 2 * np.arange(READERS)[:, None] + np.arange(2)
    books = np.hstack([np.tile(np.arange(SHARED), (READERS, 1)), own])
    hits = np.zeros((READERS, width), dtype=bool)
    hits[:, :SHARED] = True
    return hybrid_shortlists(
        scores=scores,
        books=books,
        hits=hits,
        n_relevant=np.full(READERS, SHARED),
    )


def one_part(part: str) -> np.ndarray:
    return np.array([float(p == part) for p in COMPONENTS])


def test_tuning_keeps_at_least_the_als_parts_coverage() -> None:
    lists = shortlists()
    als, popular = (
        lists.score(one_part("als"), 0.0, "maximum"),
        lists.score(one_part("popularity"), 0.0, "maximum"),
    )
    als_ndcg, als_coverage = als.ndcg.mean(), als.coverage
    popular_ndcg, popular_coverage = popular.ndcg.mean(), popular.coverage
    # the most accurate blend (popularity alone) is too narrow: the floor must bind
    assert popular_ndcg == pytest.approx(1.0) and popular_coverage == pytest.approx(0.1)
    assert als_coverage == pytest.approx((8 + 2 * READERS) / N_BOOKS)
    weights, penalty, scale = coordinate_ascent(lists, START)
    chosen = lists.score(np.array([weights[p] for p in COMPONENTS]), penalty, scale)
    ndcg, coverage = chosen.ndcg.mean(), chosen.coverage
    assert coverage >= als_coverage
    best_wide = (1 / np.log2(np.arange(2, 10))).sum() / (1 / np.log2(np.arange(2, 12))).sum()
    assert als_ndcg < ndcg == pytest.approx(best_wide)


def two_book_shortlists(als_right: int, readers: int = 40) -> Shortlists:
    """Each reader's shortlist is two books of their own, one of them their next loan. ALS ranks
    the first book first, content the second; the default blend follows content. ALS is right
    for `als_right` readers, content for the others."""
    scores = np.zeros((len(COMPONENTS), readers, 2))
    scores[COMPONENTS.index("als"), :, 0] = 1.0
    scores[COMPONENTS.index("content"), :, 1] = 1.0
    hits = np.zeros((readers, 2), dtype=bool)
    hits[:als_right, 0] = True
    hits[als_right:, 1] = True
    return hybrid_shortlists(
        scores=scores,
        books=np.arange(2 * readers).reshape(readers, 2),
        hits=hits,
        n_relevant=np.ones(readers, dtype=int),
        log_readers=np.zeros(2 * readers),
    )


def follows_als(lists: Shortlists) -> bool:
    weights, penalty, scale = coordinate_ascent(lists, START)
    chosen = lists.score(np.array([weights[p] for p in COMPONENTS]), penalty, scale)
    return bool(chosen.ndcg[0] == 1.0)  # reader 0's next loan is the book ALS ranks first


@pytest.mark.parametrize(("als_right", "expected"), [(21, False), (34, True)])
def test_tuning_moves_only_on_gains_beyond_the_validation_noise(
    als_right: int, expected: bool
) -> None:
    lists = two_book_shortlists(als_right)
    default = np.array([DEFAULT_WEIGHTS[p] for p in COMPONENTS])
    als_first = (
        lists.score(one_part("als"), 0.0, "maximum").ndcg
        - lists.score(default, 0.0, "maximum").ndcg
    )
    noise = als_first.std(ddof=1) / np.sqrt(als_first.size)
    # 21 of 40: ALS is better on average, but by less than the noise; 34 of 40: clearly better
    assert als_first.mean() > 0
    assert bool(als_first.mean() > MIN_GAIN_STANDARD_ERRORS * noise) is expected
    assert follows_als(lists) is expected


@pytest.mark.parametrize(
    ("als_factor_when_right", "expected"), [(1.0, "maximum"), (2.0, "best_mean")]
)
def test_tuning_scales_parts_by_their_best_books_only_if_clearly_better(
    als_factor_when_right: float, expected: str
) -> None:
    """ALS is right for half the readers, content for the others; by their maxima no blend tells
    them apart. If ALS's best books' mean scale doubles its scores for the readers it is right
    for (and halves them for the others), the default blend is right for every reader."""
    lists = two_book_shortlists(als_right=20)
    readers = lists.hits.shape[0]
    factors = np.ones((len(COMPONENTS), readers))
    factors[COMPONENTS.index("als"), :20] = als_factor_when_right
    factors[COMPONENTS.index("als"), 20:] = 1 / als_factor_when_right
    lists = hybrid_shortlists(
        scores=np.where(lists.padding, -np.inf, lists.values["maximum"]),
        best_mean_factors=factors,
        books=lists.books,
        hits=lists.hits,
        n_relevant=lists.n_relevant,
        log_readers=lists.log_readers,
    )
    weights, penalty, scale = coordinate_ascent(lists, START)
    assert scale == expected
    chosen = lists.score(np.array([weights[p] for p in COMPONENTS]), penalty, scale)
    right_first = int((chosen.ndcg == 1.0).sum())  # the next loan first, not second
    assert right_first == (readers if expected == "best_mean" else readers // 2)


def test_bagged_tuning_is_the_one_climbs_choice_when_every_resample_agrees() -> None:
    """Every reader of `shortlists` is alike, so every bootstrap resample of them chooses what
    the climb on all readers chooses (the best blend as wide as ALS), and so does their mean."""
    lists = shortlists()
    full_weights, full_penalty, full_scale = coordinate_ascent(lists, START)
    assert full_weights != DEFAULT_WEIGHTS  # the coverage floor made it move
    weights, penalty, scale = tune_blend(lists, START, seed=3)
    assert (scale, penalty) == (full_scale, full_penalty)
    assert weights == pytest.approx(full_weights)


def test_bagged_tuning_averages_resamples_that_disagree() -> None:
    """ALS is right for 25 of 40 readers: clearly better on all of them (the climb moves ALS to
    the top step), but not on every resample. The mean puts ALS between the default blend and
    that step, and the same seed gives the same mean."""
    lists = two_book_shortlists(als_right=25)
    full_weights, _, _ = coordinate_ascent(lists, START)
    assert full_weights == {**DEFAULT_WEIGHTS, "als": 3.0}
    weights, _, scale = tune_blend(lists, START, seed=0)
    assert scale == "maximum"

    def als_to_content(blend: dict[str, float]) -> float:
        return blend["als"] / blend["content"]

    assert als_to_content(DEFAULT_WEIGHTS) < als_to_content(weights) < als_to_content(full_weights)
    assert sum(weights.values()) == pytest.approx(sum(full_weights.values()))
    again, _, _ = tune_blend(two_book_shortlists(25), START, seed=0)
    assert again == weights


def split_taste_shortlists(readers: int = 20) -> Shortlists:
    """Ten shared books score 0.6 in both ALS and content; each reader's own ALS book and own
    content book score 1.0 in one part. Either part alone shows every reader their own book (wide
    lists); an even mix puts the ten shared books first (narrow)."""
    width = SHARED + 2
    scores = np.zeros((len(COMPONENTS), readers, width))
    als, content = COMPONENTS.index("als"), COMPONENTS.index("content")
    scores[[als, content], :, :SHARED] = 0.6
    scores[als, :, SHARED] = 1.0
    scores[content, :, SHARED + 1] = 1.0
    own = SHARED + 2 * np.arange(readers)[:, None] + np.arange(2)
    hits = np.zeros((readers, width), dtype=bool)
    hits[:, SHARED] = True
    return hybrid_shortlists(
        scores=scores,
        books=np.hstack([np.tile(np.arange(SHARED), (readers, 1)), own]),
        hits=hits,
        n_relevant=np.ones(readers, dtype=int),
        log_readers=np.zeros(SHARED + 2 * readers),
    )


def test_a_mean_blend_narrower_than_als_gives_way_to_the_full_climbs_choice() -> None:
    lists = split_taste_shortlists()
    only = {part: {p: float(p == part) for p in COMPONENTS} for part in ("als", "content")}
    fallback = START
    disagreeing = [Blend(only["als"], 0.0, "maximum"), Blend(only["content"], 0.0, "maximum")]
    mixed = lists.score(one_part("als") + one_part("content"), 0.0, "maximum")
    assert mixed.coverage < lists.score(one_part("als"), 0.0, "maximum").coverage
    assert mean_choice(lists, disagreeing, fallback=fallback) == fallback
    agreeing = [Blend(only["content"], 0.1, "maximum"), Blend(only["content"], 0.0, "maximum")]
    weights, penalty, scale = mean_choice(lists, agreeing, fallback=fallback)
    total = sum(DEFAULT_WEIGHTS.values())
    assert weights == pytest.approx({p: total * only["content"][p] for p in COMPONENTS})
    assert (penalty, scale) == (pytest.approx(0.05), "maximum")


def test_tuning_scores_lists_whose_head_the_penalty_leaves_alone() -> None:
    """One reader, ALS only: the penalty would sink the reader's best book, the only hit."""
    width = PENALTY_FREE_BOOKS + 12
    scores = np.zeros((len(COMPONENTS), 1, width))
    scores[COMPONENTS.index("als"), 0] = np.linspace(1.0, 0.5, width)
    hits = np.zeros((1, width), dtype=bool)
    hits[0, 0] = True
    log_readers = np.zeros(N_BOOKS)
    log_readers[0] = 10.0  # book 0, the best and the hit, is by far the most borrowed
    lists = hybrid_shortlists(
        scores=scores,
        books=np.arange(width)[None, :],
        hits=hits,
        n_relevant=np.ones(1, dtype=int),
        log_readers=log_readers,
    )
    als_only = np.array([part == "als" for part in COMPONENTS], dtype=np.float64)
    assert lists.score(als_only, 0.0, "maximum").ndcg == pytest.approx([1.0])
    assert lists.score(als_only, 5.0, "maximum").ndcg == pytest.approx([1.0])


def test_trial_blends_get_the_ndcg_the_evaluation_gives_their_lists() -> None:
    """A trial blend's NDCG@10 on the shortlists is, reader for reader and bit for bit, what
    `ranking_metrics` gives the lists it makes; some next loans are not on the shortlists."""
    rng = np.random.default_rng(0)
    readers, width = 40, 25
    scores = rng.random((len(COMPONENTS), readers, width))
    books = np.argsort(rng.random((readers, N_BOOKS)), axis=1)[:, :width]
    hits = rng.random((readers, width)) < 0.2
    missed = rng.integers(0, 3, readers)
    hits[:4], missed[:2] = False, 0  # the first two readers have no next loans: not scored
    lists = hybrid_shortlists(
        scores=scores,
        books=books,
        hits=hits,
        n_relevant=hits.sum(axis=1) + missed,
    )
    weights = np.array([DEFAULT_WEIGHTS[p] for p in COMPONENTS])
    rows = np.arange(readers)[:, None]
    top = np.argsort(-np.tensordot(weights, scores, axes=1), axis=1)[:, :10]
    ids = np.array([f"r{r}" for r in range(readers)])
    recs = pd.DataFrame(
        {
            C.READER_ID: np.repeat(ids, 10),
            C.BOOK_ID: books[rows, top].ravel().astype(str),
            C.RANK: np.tile(np.arange(1, 11), readers),
        }
    )
    reader_of, position = np.nonzero(hits)
    relevant = pd.DataFrame(
        {
            C.READER_ID: [*ids[reader_of], *np.repeat(ids, missed)],
            C.BOOK_ID: [
                *books[reader_of, position].astype(str),
                *(f"off-{i}" for i in range(missed.sum())),
            ],
        }
    )
    scored = lists.n_relevant > 0
    assert 0 < scored.sum() < readers
    expected = ranking_metrics(recs, relevant, k=10).loc[ids[scored], "ndcg"].to_numpy()
    assert expected.any()
    np.testing.assert_array_equal(lists.score(weights, 0.0, "maximum").ndcg, expected)


@pytest.mark.parametrize(("right_of_40", "expected"), [(21, "start"), (34, "other")])
def test_a_setting_is_chosen_over_the_start_only_if_clearly_better(
    right_of_40: int, expected: str
) -> None:
    """The other setting finds a reader's next loan where the start misses it for
    `right_of_40` of 40 readers, and misses it where the start finds it for the rest: better on
    average in both cases, clearly so only for 34 (as blend steps, `MIN_GAIN_STANDARD_ERRORS`)."""
    other = np.array([1.0] * right_of_40 + [0.0] * (40 - right_of_40))
    ndcg = {"start": 1.0 - other, "other": other, "worse": np.zeros(40)}
    assert other.mean() > ndcg["start"].mean()
    assert clearly_best(ndcg, "start") == expected
