"""The default recommender a library gets without tuning anything by hand.

Six signals, each put on one scale per reader (`PART_SCALES`: by its best score, or by the mean of
its ten best scores among books new to the reader), are blended:

- ``als``: implicit's ALS factors (broad taste), trained on recency-decayed loans;
- ``readers``: what the most similar readers (cosine over loans) borrowed;
- ``neighbours``: symmetric co-borrowing of the reader's books (item-item);
- ``sequence``: what readers borrowed *after* the reader's books (courses, curricula, series);
- ``content``: catalog similarity (subjects, author, title), the only signal for new books;
- ``popularity``: recent popularity, a prior (off by default: it narrows catalog coverage;
  popularity still orders ties and serves readers the model does not know).

Every list is k-anonymous (`min_pair_support`, k): the four collaborative parts start only from
the reader's books that at least k readers borrowed and reach only such books, and each link
they use rests on at least k distinct readers (borrowing in order, reader neighbours who borrowed
the book; a rarely borrowed book has no ALS factors). A book fewer than k readers borrowed is
reached through content and popularity only, so no list reveals what a few readers borrowed.

After each list's first `PENALTY_FREE_BOOKS` books, the blend is multiplied by ``(1 + readers of
the book) ** -popularity_penalty``: the penalty lets a library whose readers move in cohorts (a
university's semesters) show each reader more than the same few course books, while the reader's
strongest matches still lead the list.

Libraries differ (a university's semester cohorts vs a public library's leisure reading). With
``tune_weights=True`` the hybrid chooses the blend weights, the penalty and the part scale itself
on a validation split carved from its own training data (the last `validation_share` of loans, only
books new to the reader), then refits every part on all the data; too little validation data keeps
the given weights. It maximises NDCG@10 among blends whose lists cover at least as much of the
catalog as the ALS part's alone, so that accuracy is never bought by showing everyone the same
books, and it leaves the given blend only for gains beyond the noise of its validation readers
(`MIN_GAIN_STANDARD_ERRORS`). The weights and penalty are then bagged: the mean of the choices made
on bootstrap resamples of those readers (`TUNING_RESAMPLES`). The constructor leaves tuning off (so
a fixed blend can be rebuilt exactly); `registry.default_model`, the model a library gets, turns it
on; the full fit's ALS then goes on from the tuning fit's factors (`als.WARM_START_ITERATIONS`),
which saves most of its cost. Measured by `benchmarks/bench_quality.py` (NDCG@10 and coverage@10,
fixed vs tuned blend; tuned ALS in brackets): Swiss loans last 10 % 0.0386 vs 0.0402, coverage 0.38
vs 0.45 (0.0319, 0.37); last 20 % 0.036 vs 0.038; last loan per reader 0.066 vs 0.068, coverage
0.59 vs 0.60 (0.053, 0.51). Lib-SibGMU last 10 % 0.043 vs 0.111, coverage 0.27 vs 0.40 (0.024,
0.37); last 20 % 0.031 vs 0.121; last loan 0.070 vs 0.168. Generated library (200k loans) last 10 %
0.139 vs 0.173; last 20 % 0.161 vs 0.200; last loan 0.105 vs 0.129. With every step taken on 1,000
validation readers, the tuned blend was worse than the fixed one on Swiss (0.036 on the last 10 %,
0.061 on the last loan).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import normalize

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.data.dataset import Dataset
from recsys.models.als import WarmStartable
from recsys.models.features import content_scores
from recsys.models.matrix import (
    add_rows,
    column_counts,
    csr_restore,
    csr_state,
    dense_product,
    keep_columns,
    supported_books,
)
from recsys.models.ranking import (
    Pairs,
    TrainingData,
    batch_readers,
    check_min_pair_support,
)
from recsys.models.sequence import sequence_matrix
from recsys.models.top import largest, largest_per_row
from recsys.models.weighting import event_weights, timestamps_seconds

COMPONENTS = ("als", "readers", "neighbours", "sequence", "content", "popularity")
#: Chosen on two real loan logs (Swiss university loans, Lib-SibGMU), the same for both.
DEFAULT_WEIGHTS = {
    "als": 1.0,
    "readers": 0.5,
    "neighbours": 0.3,
    "sequence": 0.3,
    "content": 1.5,
    "popularity": 0.0,
}
WEIGHT_STEPS = (0.0, 0.1, 0.3, 1.0, 3.0)
#: Tuned lists must cover at least this share of the books the ALS part alone covers.
COVERAGE_FLOOR = 1.0
#: A tuning step is taken only if its NDCG@10 gain over the current blend exceeds this many
#: standard errors of the per-reader gains: smaller gains are noise on a few thousand validation
#: readers, and following them moved blends away from ones that did better on later loans.
MIN_GAIN_STANDARD_ERRORS = 1.0
#: The tuned weights and penalty are the mean of the choices made on this many bootstrap resamples
#: of the validation readers (bagging): one greedy climb follows the noise of its readers to one
#: corner of the grid, and the mean of many climbs lands between grid points. Measured by
#: `benchmarks/bench_quality.py` (one climb vs bagged, NDCG@10): Swiss last 10 % 0.0396 vs 0.0406,
#: Lib-SibGMU last 10 % 0.105 vs 0.113, last loan 0.131 vs 0.154; the other cuts and the generated
#: library within 1.5 %. Over model seeds 0-3 too: Swiss last 10 % 0.0392 vs 0.0398 (ranges
#: 0.0370-0.0405 vs 0.0391-0.0404). Each resample's climb costs about 0.3 s on 3,000 validation
#: readers (bagging took the Swiss fit from 8.6 s to 15.6 s); fewer resamples vary more (Swiss
#: last 10 % over resample seeds: 0.0389-0.0415 with 12, 0.0388-0.0408 with 24, 0.0404-0.0414
#: with 40).
TUNING_RESAMPLES = 24
#: Exponents of the popularity penalty the tuning may choose (see `PENALTY_FREE_BOOKS`). 0.5 took
#: the place of 0.1, which keeps the tuning's number of trials: with all four steps the Swiss fit
#: took 20 s (last 10 %: NDCG@10 0.0397).
PENALTY_STEPS = (0.0, 0.25, 0.5)
#: Each list's first books are the blend's best before the popularity penalty, which reorders
#: only the rest: a reader's strongest matches (often the course books all their cohort borrows)
#: stay first, and the penalty widens the tail. Measured by `benchmarks/bench_quality.py`
#: (NDCG@10, coverage@10; whole lists penalised with steps 0, 0.1, 0.25 vs this): Lib-SibGMU
#: last 10 % 0.113, 0.358 vs 0.111, 0.396 (tuned ALS covers 0.373); last 20 % 0.113 vs 0.121;
#: last loan 0.154 vs 0.168; Swiss last 10 % 0.0406 vs 0.0402, last 20 % 0.0376 vs 0.0375, last
#: loan 0.0678 vs 0.0680. Whole lists penalised with the 0.5 step moved Lib-SibGMU's tuning to the
#: best-mean scale (last 10 %: 0.061, coverage 0.32).
PENALTY_FREE_BOOKS = 3
MIN_VALIDATION_READERS = 50
#: More validation readers make smaller real gains visible above the noise; each costs a scoring
#: pass over the catalog (about 15 s a thousand at 10 million loans and 250,000 books).
MAX_VALIDATION_READERS = 3000
#: The tuning's inner fit sees at most about this many interactions (a seeded sample of whole
#: readers beyond it): at 10 million loans the full inner fit cost two and a half minutes, and
#: the blend it chooses depends on how the parts rank books, not on every reader being there.
MAX_VALIDATION_INTERACTIONS = 4_000_000
CANDIDATES_PER_PART = 50
VALIDATION_BATCH = 32
TUNE_K = 10
#: How each part's scores are put on one scale per reader before they are blended: by the part's
#: best score ("maximum"), or by the mean of its `SCALE_BOOKS` best scores among books new to the
#: reader ("best_mean"). With the maximum one outstanding book sets a part's scale and shrinks the
#: rest of its list against the other parts. Which suits a library depends on its circulation, so
#: the tuning chooses (the first is the default). Tuned on each scale alone by one climb, before
#: bagging (mean test NDCG@10 over seeds): Swiss last 10 % 0.0370 vs 0.0401, last 20 % 0.0356 vs
#: 0.0377 (4 seeds), but Lib-SibGMU last 10 % 0.104 vs 0.057, last 20 % 0.115 vs 0.090 (6 seeds).
PART_SCALES = ("maximum", "best_mean")
SCALE_BOOKS = 10


def _scale_rows(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1] by its maximum (negative scores count as no evidence), in place:
    at 250,000 books every pass over a batch's scores costs tens of milliseconds."""
    np.clip(scores, 0.0, None, out=scores)
    top = scores.max(axis=1, keepdims=True)
    evidence = top > 0
    scores /= np.where(evidence, top, 1.0)
    scores[~evidence[:, 0]] = 0.0  # no evidence (or NaN) is 0 for every book
    return scores


def _best_mean_factors(scaled: np.ndarray, own: list[np.ndarray]) -> np.ndarray:
    """Per row of scores scaled by their maximum, the factor that scales it by the mean of its
    `SCALE_BOOKS` best scores among books new to the reader instead (1 without such evidence).
    The best scores are found by block maxima (`recsys.models.top`)."""
    factors = np.ones(len(scaled), dtype=np.float32)
    for r, (row, books) in enumerate(zip(scaled, own, strict=True)):
        kept = row[books].copy()
        row[books] = 0.0
        best_mean = row[largest(row, SCALE_BOOKS)].mean()
        row[books] = kept
        if best_mean > 0:
            factors[r] = 1.0 / best_mean
    return factors


def _popularity_divisor(popularity: np.ndarray, part_scale: str) -> float:
    """The popularity part (one row for every reader) on `part_scale`, over the whole catalog."""
    best = popularity[largest(popularity, SCALE_BOOKS if part_scale == "best_mean" else 1)]
    return max(float(best.mean()) if len(best) else 0.0, 1e-12)


class HybridRecommender(WarmStartable):
    """Blend of ALS, reader and book neighbours, borrowing sequences, content and recent
    popularity, with a popularity penalty; see the module docstring."""

    name = "hybrid"
    content_for_readers = True
    private_lists = True
    saved_derivations = ("collaborative_matrix", "reader_vectors_t", "sequence_t")

    def __init__(
        self,
        *,
        weights: dict[str, float] | None = None,
        tune_weights: bool = False,
        validation_share: float = 0.1,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 10.0,
        iterations: int = 15,
        als_half_life_days: float | None = 180.0,
        reader_neighbours: int = 200,
        sequence_window: int | None = 50,
        popularity_half_life_days: float | None = 60.0,
        popularity_penalty: float = 0.0,
        part_scale: str = "maximum",
        event_weights: dict[str, float] | None = None,
        half_life_days: float | None = None,
        min_pair_support: int = 3,
        random_state: int | None = None,
    ) -> None:
        check_min_pair_support(min_pair_support)
        unknown = sorted(set(weights or {}) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"weights has unknown parts {unknown}; known: {list(COMPONENTS)}")
        if not popularity_penalty >= 0:
            raise ValueError(f"popularity_penalty must be >= 0; got {popularity_penalty!r}")
        if part_scale not in PART_SCALES:
            raise ValueError(f"part_scale must be one of {list(PART_SCALES)}; got {part_scale!r}")
        if not 0 < validation_share < 1:
            raise ValueError(
                f"validation_share must be strictly between 0 and 1; got {validation_share!r}"
            )
        self.weights = weights
        self.tune_weights = tune_weights
        self.validation_share = validation_share
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.als_half_life_days = als_half_life_days
        self.reader_neighbours = reader_neighbours
        self.sequence_window = sequence_window
        self.popularity_half_life_days = popularity_half_life_days
        self.popularity_penalty = popularity_penalty
        self.part_scale = part_scale
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support
        self.random_state = random_state

    # ---------------------------------------------------------------------------- fitting
    def _fit_model(self, data: TrainingData) -> None:
        start = {**DEFAULT_WEIGHTS, **(self.weights or {})}
        tuned = self._tuned_weights(data, start) if self.tune_weights else None
        weights, penalty, part_scale = tuned or (start, self.popularity_penalty, self.part_scale)
        self.weights_ = np.array([weights[part] for part in COMPONENTS])
        self.penalty_ = np.asarray([penalty], dtype=np.float64)
        self.part_scale_ = part_scale
        supported = supported_books(data.matrix, self.min_pair_support)
        # from the tuning fit's factors if it tuned (see `_validation_shortlists`)
        decayed = self._decayed(data, self.als_half_life_days)
        self._fit_als(keep_columns(decayed, supported), data.readers, data.books)
        # a book fewer than k readers borrowed has no factors: ALS never scores it
        self.als_.item_factors[~supported] = 0.0
        self.sequence_ = sequence_matrix(
            data.dataset.interactions,
            data.pairs,
            window=self.sequence_window,
            min_readers=self.min_pair_support,
        )
        self.recent_popularity_ = np.asarray(
            self._decayed(data, self.popularity_half_life_days).sum(axis=0), dtype=np.float64
        ).ravel()
        self.popularity_ = self.recent_popularity_

    def _prepare(self) -> None:
        """Per-model matrices built once (after fit and load), so that scoring one reader only
        touches their own few rows: sparse sums, transposes and normalisation of whole
        matrices cost hundreds of milliseconds each at a million loans."""
        super()._prepare()
        # fold-in solves a 64 x 64 system per reader: OpenMP start-up would cost 300x that
        self.als_.num_threads = 1
        self.supported_ = supported_books(self.matrix_, self.min_pair_support)
        self.collaborative_matrix_ = self._derivation(
            "collaborative_matrix", lambda: keep_columns(self.matrix_, self.supported_)
        )
        self.reader_vectors_t_ = self._derivation(
            "reader_vectors_t", lambda: normalize(self.collaborative_matrix_).T.tocsr()
        )
        # co-borrowing is the sequence read both ways: with the transpose kept, the "after" scores
        # serve both parts, and no summed book x book matrix (the fit's peak memory) is built
        self.sequence_t_ = self._derivation("sequence_t", lambda: self.sequence_.T.tocsr())
        self.popularity_parts_ = {
            scale: (
                self.recent_popularity_ / _popularity_divisor(self.recent_popularity_, scale)
            ).astype(np.float32)
            for scale in PART_SCALES
        }
        penalty = np.exp(-float(self.penalty_[0]) * _log_readers(self.matrix_))
        self.penalty_factor_ = penalty.astype(np.float32)

    def _decayed(self, data: TrainingData, half_life: float | None) -> sparse.csr_matrix:
        """The training matrix re-weighted with another half-life (the pairs are grouped once,
        in `fit`). A reader whose loans all faded to nothing under the training half-life has
        no row."""
        weights = event_weights(
            data.dataset.interactions,
            event_weights=self.event_weights,
            half_life_days=half_life,
            reference_time=data.reference_time,
        )
        return data.pairs.matrix(data.pairs.sums(weights, damp=True), data.readers)

    def _tuned_weights(
        self, data: TrainingData, start: dict[str, float]
    ) -> tuple[dict[str, float], float, str] | None:
        """Blend weights, popularity penalty and part scale that maximise NDCG@10 on the last
        loans of the training data, keeping the lists at least as varied as the ALS part's."""
        shortlists = self._validation_shortlists(data)
        if shortlists is None:
            return None
        return _bagged_tuning(
            shortlists, start, self.popularity_penalty, self.part_scale, seed=self._seed
        )

    @property
    def _seed(self) -> int:
        """The tuning's seed (its readers' samples and resamples)."""
        return 0 if self.random_state is None else self.random_state

    def _validation_shortlists(self, data: TrainingData) -> Shortlists | None:
        """Parts' scores, books and hits on validation shortlists (see `_shortlist`)."""
        seed = self._seed
        split = _validation_split(
            data.dataset,
            data.pairs,
            self.validation_share,
            max_interactions=MAX_VALIDATION_INTERACTIONS,
            seed=seed,
        )
        if split is None:
            return None
        inner_train, held = split
        inner = HybridRecommender(**{**self.get_params(), "tune_weights": False})
        inner.fit_for_reader_lists(inner_train)
        if self._start is None:  # the full fit's ALS goes on from the inner fit's factors
            self.start_next_fit_from(inner.starting_factors())
        readers = np.asarray(pd.unique(held[C.READER_ID]), dtype=str)
        if len(readers) > MAX_VALIDATION_READERS:
            rng = np.random.default_rng(seed)
            readers = np.sort(rng.choice(readers, MAX_VALIDATION_READERS, replace=False))
        relevant = held.assign(row=pd.Index(readers).get_indexer(pd.Index(held[C.READER_ID])))
        relevant = relevant.assign(book=inner.books_.index(relevant[C.BOOK_ID]))
        relevant = relevant[(relevant["row"] >= 0) & (relevant["book"] >= 0)]
        targets = sparse.csr_matrix(
            (np.ones(len(relevant)), (relevant["row"], relevant["book"])),
            shape=(len(readers), len(inner.books_)),
        )
        # parts are scored per reader: small batches give the same shortlists in a fraction of
        # the memory (six dense readers x books arrays per batch)
        step = batch_readers(len(inner.books_), VALIDATION_BATCH)
        shortlists = [
            inner._shortlist(list(readers[s : s + step]), targets[s : s + step])
            for s in range(0, len(readers), step)
        ]
        return Shortlists(
            scores=np.concatenate([s.scores for s in shortlists], axis=1),
            best_mean_factors=np.concatenate([s.best_mean_factors for s in shortlists], axis=1),
            books=np.concatenate([s.books for s in shortlists], axis=0),
            hits=np.concatenate([s.hits for s in shortlists], axis=0),
            n_relevant=np.diff(targets.indptr),
            log_readers=_log_readers(inner.matrix_),
        )

    def _shortlist(self, readers: list[str], targets: sparse.csr_matrix) -> ShortlistBatch:
        """Each part's scores (by their maximum) on the union of the parts' top books per
        reader, the factors to their best books' mean, and the hits."""
        index, rows, folded = self.reader_rows(readers, None)
        own = self._own_books(rows)  # what the shortlists leave out
        popularity_factor = _popularity_divisor(
            self.recent_popularity_, "maximum"
        ) / _popularity_divisor(self.recent_popularity_, "best_mean")
        parts, factors = [], []
        for name, part in self._parts(rows, index, folded, part_scale="maximum"):
            if name == "popularity":  # one read-only row shared by every reader
                parts.append(np.array(part))
                factors.append(np.full(len(readers), popularity_factor, dtype=np.float32))
            else:
                parts.append(part)
                factors.append(_best_mean_factors(part, own))
            for row, books in zip(parts[-1], own, strict=True):
                row[books] = -np.inf
        size = min(CANDIDATES_PER_PART, rows.shape[1])
        top = np.concatenate([largest_per_row(p, size) for p in parts], axis=1)
        top.sort(axis=1)
        repeated = np.zeros(top.shape, dtype=bool)
        repeated[:, 1:] = top[:, 1:] == top[:, :-1]
        reader = np.arange(len(readers))[:, None]
        scores = np.stack([np.where(repeated, -np.inf, p[reader, top]) for p in parts])
        hits = (np.asarray(targets[reader, top].todense()) > 0) & ~repeated
        return ShortlistBatch(scores, np.stack(factors), top, hits)

    # ---------------------------------------------------------------------------- scoring
    def _parts(
        self,
        rows: sparse.csr_matrix,
        reader_index: np.ndarray,
        folded: np.ndarray,
        parts: tuple[str, ...] = COMPONENTS,
        part_scale: str | None = None,
        own: list[np.ndarray] | None = None,
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Each of `parts` (in `COMPONENTS` order) on `part_scale` per reader (the fitted one by
        default). The popularity part, one row shared by every reader, is scaled once, over the
        whole catalog. `own` is `_own_books(rows)` if the caller already has it."""
        part_scale = part_scale or self.part_scale_
        # only the best books' mean needs the readers' own books (they do not set the scale)
        best_mean = part_scale == "best_mean"
        if best_mean and own is None:
            own = self._own_books(rows)
        # collaborative parts start only from books at least k readers borrowed (k-anonymity)
        collaborative = keep_columns(rows, self.supported_)
        after = np.zeros(0)  # what readers borrowed after these readers' books: two parts' base
        if "neighbours" in parts or "sequence" in parts:
            after = dense_product(collaborative, self.sequence_)
        for part in parts:
            if part == "popularity":
                yield part, np.broadcast_to(self.popularity_parts_[part_scale], rows.shape)
                continue
            if part == "als":
                scores = self._als_scores(collaborative, reader_index, folded)
            elif part == "readers":
                scores = self._reader_neighbour_scores(collaborative)
            elif part == "neighbours":  # borrowed after or before: symmetric co-borrowing
                scores = after + dense_product(collaborative, self.sequence_t_)
            elif part == "sequence":  # the last part to use `after`: scaled in place
                scores = after
            else:
                scores = content_scores(self.content_, rows)
            scores = _scale_rows(scores)
            if best_mean and own is not None:
                scores *= _best_mean_factors(scores, own)[:, None]
            yield part, scores

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        weights = dict(zip(COMPONENTS, self.weights_, strict=True))
        total = np.zeros(rows.shape, dtype=np.float32)
        used = tuple(part for part in COMPONENTS if weights[part])
        # the penalty's head leaves the readers' own books out; the best books' mean reuses them
        own = self._own_books(rows) if self.penalty_[0] else None
        for part, scores in self._parts(rows, reader_index, folded, used, own=own):
            if part == "popularity":  # one read-only row shared by every reader
                total += weights[part] * scores
            else:  # a fresh array: scaled in place (each pass is a batch-sized array)
                scores *= weights[part]
                total += scores
        if own is not None:
            _penalize_after_head(total, self.penalty_factor_, own)
        return total

    def _own_books(self, rows: sparse.csr_matrix) -> list[np.ndarray]:
        """Each reader's books, every edition of their works included: the books a list leaves
        out, so they do not set the parts' scales either."""
        return [
            np.flatnonzero(self._seen_works(rows.indices[rows.indptr[r] : rows.indptr[r + 1]]))
            for r in range(rows.shape[0])
        ]

    def _reader_neighbour_scores(self, rows: sparse.csr_matrix) -> np.ndarray:
        """Sum of the `reader_neighbours` most similar training readers' rows, for the books
        that at least `min_pair_support` of those readers borrowed (fewer would reveal them).

        Ties at the cut all count. Only the readers who share a book are looked at, never the
        whole reader list.
        """
        # sparse: a dense row per reader would be as wide as the reader list (600,000 at 10
        # million loans) and scanning it cost more than the neighbours themselves
        similarity = (normalize(rows) @ self.reader_vectors_t_).tocsr()
        similarity.sort_indices()
        matrix = self.collaborative_matrix_
        scores = np.zeros(rows.shape, dtype=matrix.dtype)
        for r, out in enumerate(scores):
            start, end = similarity.indptr[r], similarity.indptr[r + 1]
            readers, weights = similarity.indices[start:end], similarity.data[start:end]
            beyond = len(readers) - self.reader_neighbours
            if beyond > 0:
                keep = weights >= np.partition(weights, beyond)[beyond]
                readers, weights = readers[keep], weights[keep]
            neighbours = np.zeros(len(out), dtype=np.int32)
            add_rows(out, readers, weights, matrix, counts=neighbours)
            out[neighbours < self.min_pair_support] = 0.0
        return scores

    def _als_scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        items = self.als_.item_factors
        factors = np.zeros((rows.shape[0], items.shape[1]), dtype=np.float32)
        stored = (reader_index >= 0) & ~folded
        factors[stored] = self.als_.user_factors[reader_index[stored]]
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            factors[fresh] = self.als_.recalculate_user(fresh, rows[fresh].astype(np.float32))
        return factors @ items.T

    def fitted_params(self) -> dict[str, Any]:
        """With `tune_weights`, the blend, penalty and part scale it chose, fixed (tuning off)."""
        self._check_fitted()
        if not self.tune_weights:
            return self.get_params()
        return {
            **self.get_params(),
            "weights": self.blend,
            "popularity_penalty": self.penalty,
            "part_scale": self.part_scale_,
            "tune_weights": False,
        }

    @property
    def blend(self) -> dict[str, float]:
        """The fitted blend weights by part (tuned or default)."""
        self._check_fitted()
        return dict(zip(COMPONENTS, self.weights_.tolist(), strict=True))

    @property
    def penalty(self) -> float:
        """The fitted popularity penalty exponent (tuned or `popularity_penalty`)."""
        self._check_fitted()
        return float(self.penalty_[0])

    def _co_borrowing(self, book: int, others: np.ndarray) -> np.ndarray:
        """Readers' co-borrowing of `book` and each of `others`, in either order."""
        row = np.zeros(self.sequence_.shape[1], dtype=self.sequence_.dtype)
        for matrix in (self.sequence_, self.sequence_t_):
            start, end = matrix.indptr[book], matrix.indptr[book + 1]
            row[matrix.indices[start:end]] += matrix.data[start:end]
        return row[others].astype(np.float64)

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        co = self._co_borrowing(book, others)
        content = self._content_pair_scores(book, others)
        return co / max(co.max(initial=0.0), 1e-12) + 0.5 * content

    def _contributions(self, row: sparse.csr_matrix, book: int) -> np.ndarray:
        weights = row.data.astype(np.float64)
        blend = self.blend
        backward = np.asarray(self.sequence_[book, row.indices].todense()).ravel()
        forward = np.asarray(self.sequence_[row.indices, book].todense()).ravel()
        content = self._content_pair_scores(book, row.indices)
        parts = (
            (blend["neighbours"] + blend["sequence"], forward),
            (blend["neighbours"], backward),
            (blend["content"], content),
        )
        return sum(w * weights * p / max(p.max(), 1e-12) for w, p in parts)

    # ------------------------------------------------------------------------ persistence
    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            **csr_state("sequence", self.sequence_),
            "user_factors": self.als_.user_factors,
            "item_factors": self.als_.item_factors,
            "recent_popularity": self.recent_popularity_,
            "weights": self.weights_,
            "penalty": self.penalty_,
            "part_scale": np.asarray([PART_SCALES.index(self.part_scale_)]),
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.sequence_ = csr_restore("sequence", arrays)
        self.als_ = self._new_als()
        self.als_.user_factors = arrays["user_factors"]
        self.als_.item_factors = arrays["item_factors"]
        self.recent_popularity_ = arrays["recent_popularity"]
        self.weights_ = arrays["weights"]
        self.penalty_ = arrays["penalty"]
        # models saved before the part scale was chosen scaled by the maximum
        scale = arrays["part_scale"][0] if "part_scale" in arrays else 0
        self.part_scale_ = PART_SCALES[int(scale)]


def _validation_split(
    dataset: Dataset,
    pairs: Pairs,
    share: float,
    *,
    max_interactions: int | None = None,
    seed: int = 0,
) -> tuple[Dataset, pd.DataFrame] | None:
    """Training data before the last `share` of loans, and the later new (reader, book) pairs.

    Beyond `max_interactions` training rows, both keep a seeded sample of whole readers (their
    expected rows about `max_interactions`). Pairs are told apart by `pairs`' integer groups:
    comparing string ids costs a minute at 10 million loans.
    """
    frame = dataset.interactions
    if C.TIMESTAMP not in frame or frame.empty:
        return None
    seconds = timestamps_seconds(frame[C.TIMESTAMP])
    loans = frame[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS).to_numpy()
    loan_times = np.sort(seconds[loans & ~np.isnan(seconds)])
    if len(loan_times) < 2:
        return None
    cut = loan_times[min(len(loan_times) - 1, int(len(loan_times) * (1 - share)))]
    before = seconds < cut
    pair = np.full(len(frame), -1, dtype=np.int64)
    pair[pairs.known] = pairs.group
    reader = np.full(len(frame), -1, dtype=np.int64)
    reader[pairs.known] = pairs.reader_code[pairs.group]
    earlier = before & pairs.known
    later = np.flatnonzero(~before & loans & pairs.known)
    _, first = np.unique(pair[later], return_index=True)
    later = later[np.sort(first)]  # each new pair once, at its first loan
    known_reader = np.zeros(len(pairs.reader_ids), dtype=bool)
    known_reader[reader[earlier]] = True
    known_pair = np.zeros(len(pairs.reader_code), dtype=bool)
    known_pair[pair[earlier]] = True
    later = later[known_reader[reader[later]] & ~known_pair[pair[later]]]
    n_before = int(before.sum())
    if max_interactions is not None and n_before > max_interactions:
        sampled = np.random.default_rng(seed).random(len(pairs.reader_ids))
        kept = np.zeros(len(frame), dtype=bool)  # rows without a reader go with the unsampled
        kept[pairs.known] = sampled[reader[pairs.known]] < max_interactions / n_before
        before &= kept
        later = later[kept[later]]
    held = frame.iloc[later][[C.READER_ID, C.BOOK_ID]].astype(str)
    if held[C.READER_ID].nunique() < MIN_VALIDATION_READERS:
        return None
    return dataset.take(np.flatnonzero(before)), held


def _penalize_after_head(scores: np.ndarray, factor: np.ndarray, own: list[np.ndarray]) -> None:
    """Multiply `scores` (readers x books) by the popularity penalty `factor` in place, except
    each reader's `PENALTY_FREE_BOOKS` best books among those new to them (not in `own`): they
    keep their score, which is above every penalised one, and so lead the list."""
    hidden = [scores[reader, books] for reader, books in enumerate(own)]
    for reader, books in enumerate(own):
        scores[reader, books] = -np.inf
    head = largest_per_row(scores, PENALTY_FREE_BOOKS)
    rows = np.arange(len(scores))[:, None]
    best = scores[rows, head]
    for reader, books in enumerate(own):
        scores[reader, books] = hidden[reader]
    scores *= factor
    scores[rows, head] = np.maximum(best, scores[rows, head])


def _log_readers(matrix: sparse.csr_matrix) -> np.ndarray:
    """``log(1 + distinct readers)`` per book: the scale of the popularity penalty."""
    return np.log1p(column_counts(matrix).astype(np.float64))


class ShortlistBatch(NamedTuple):
    """`Shortlists`' arrays for one batch of validation readers."""

    scores: np.ndarray
    best_mean_factors: np.ndarray
    books: np.ndarray
    hits: np.ndarray


class Shortlists:
    """What blend tuning scores: each part's scores on the validation readers' shortlists.

    ``scores`` is parts x readers x shortlist, each part scaled by its maximum per reader (-inf
    marks padding and repeats); ``best_mean_factors`` (parts x readers) rescales them to the
    part's best books' mean (see `PART_SCALES`); ``books`` and ``hits`` are readers x shortlist;
    ``log_readers`` is per book of the inner model.
    """

    def __init__(
        self,
        *,
        scores: np.ndarray,
        best_mean_factors: np.ndarray,
        books: np.ndarray,
        hits: np.ndarray,
        n_relevant: np.ndarray,
        log_readers: np.ndarray,
    ) -> None:
        self.books = books
        self.hits = hits
        self.n_relevant = n_relevant
        self.log_readers = log_readers
        # what every trial blend shares, computed once: tuning scores a few hundred blends
        by_maximum = np.where(np.isfinite(scores), scores, 0.0).astype(np.float32)
        self.values = {
            "maximum": by_maximum,
            "best_mean": by_maximum * best_mean_factors[:, :, None].astype(np.float32),
        }
        self.padding = ~np.isfinite(scores[0])
        self.book_log_readers = log_readers[books].astype(np.float32)
        self.scored = n_relevant > 0
        ideal = np.cumsum(1.0 / np.log2(np.arange(2, TUNE_K + 2)))
        self.ideal = ideal[np.minimum(n_relevant[self.scored], TUNE_K) - 1]
        self._scores: dict[tuple[bytes, float, str], BlendScore] = {}
        self._penalty_factors: dict[float, np.ndarray] = {}

    def score(self, weights: np.ndarray, penalty: float, part_scale: str) -> BlendScore:
        """NDCG@10 per scored reader and catalog coverage@10 of the blend on the shortlists
        (remembered: the bagged tuning's climbs try many of the same blends)."""
        key = (np.asarray(weights, dtype=np.float64).tobytes(), float(penalty), part_scale)
        if key not in self._scores:
            self._scores[key] = self._score(weights, penalty, part_scale)
        return self._scores[key]

    def _score(self, weights: np.ndarray, penalty: float, part_scale: str) -> BlendScore:
        # negated in place, padding last: every copy of readers x shortlist costs milliseconds
        cost = np.tensordot(-weights.astype(np.float32), self.values[part_scale], axes=1)
        np.copyto(cost, np.float32(np.inf), where=self.padding)
        if penalty:  # as `_penalize_after_head`: the head keeps its unpenalised cost
            rows = np.arange(len(cost))[:, None]
            head = np.argpartition(cost, min(PENALTY_FREE_BOOKS, cost.shape[1]) - 1, axis=1)
            head = head[:, :PENALTY_FREE_BOOKS]
            best = cost[rows, head]
            cost *= self._penalty_factor(penalty)
            cost[rows, head] = best
        size = min(TUNE_K, cost.shape[1])
        top = np.argpartition(cost, size - 1, axis=1)[:, :size]
        top_costs = np.take_along_axis(cost, top, 1)
        order = np.argsort(top_costs, axis=1)
        top = np.take_along_axis(top, order, 1)
        top_costs = np.take_along_axis(top_costs, order, 1)
        discount = 1.0 / np.log2(np.arange(2, size + 2))
        gains = (np.take_along_axis(self.hits, top, 1) * discount).sum(axis=1)
        shown = np.take_along_axis(self.books, top, 1)[np.isfinite(top_costs)]
        return BlendScore(
            ndcg=gains[self.scored] / self.ideal,
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
        """More accurate than `other` on the same readers by more than the noise: the mean
        per-reader gain exceeds `MIN_GAIN_STANDARD_ERRORS` standard errors of the gains."""
        gain = self.ndcg - other.ndcg
        if gain.size == 0:
            return False
        noise = gain.std(ddof=1) / np.sqrt(gain.size) if gain.size > 1 else 0.0
        return float(gain.mean()) > MIN_GAIN_STANDARD_ERRORS * noise


def _coordinate_ascent(
    shortlists: Shortlists,
    start: dict[str, float],
    start_penalty: float,
    start_scale: str,
    *,
    scales: tuple[str, ...] = PART_SCALES,
    readers: np.ndarray | None = None,
) -> tuple[dict[str, float], float, str]:
    """Greedy search over `WEIGHT_STEPS` and `PENALTY_STEPS`, on each of `scales`, for the best
    NDCG@10 whose catalog coverage is at least that of the ALS part alone (collaborative
    filtering's own breadth).

    A blend below that coverage floor only competes on coverage, so the search first widens the
    lists, then improves accuracy; among wide enough blends a step is taken only if it is clearly
    more accurate (`BlendScore.clearly_beats`), so the given blend stays unless the validation
    readers say otherwise. It climbs from the given blend both without and with the strongest
    penalty (the two regions are far apart for greedy steps), first on the given part scale; a
    climb on another scale replaces it only if it is clearly better, by the same rule. Accuracy
    is judged on `readers` (positions among the scored validation readers, a resample), on all
    of them by default.
    """
    floor = _coverage_floor(shortlists, start_scale)

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
            for i in range(len(COMPONENTS) + 1):
                for step in WEIGHT_STEPS if i < len(COMPONENTS) else PENALTY_STEPS:
                    trial, trial_penalty = weights.copy(), penalty
                    if i < len(COMPONENTS):
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

    initial = np.array([start[part] for part in COMPONENTS], dtype=np.float64)
    runs = [
        climb(initial, penalty, scale)
        for scale in dict.fromkeys((start_scale, *scales))
        for penalty in dict.fromkeys((start_penalty, PENALTY_STEPS[-1]))
    ]
    chosen = runs[0]
    for run in runs[1:]:
        if better(run[0], chosen[0]):
            chosen = run
    _, weights, penalty, scale = chosen
    return dict(zip(COMPONENTS, weights.tolist(), strict=True)), penalty, scale


def _bagged_tuning(
    shortlists: Shortlists,
    start: dict[str, float],
    start_penalty: float,
    start_scale: str,
    *,
    seed: int,
) -> tuple[dict[str, float], float, str]:
    """Blend weights, penalty and part scale bagged over `TUNING_RESAMPLES` climbs.

    The climb on all validation readers chooses the part scale: between two ways of scaling, its
    one-standard-error rule keeps the given one against noise, where a vote of the resamples
    followed it (a trial with 12 resamples, Swiss last 10 %: NDCG@10 0.0383 on the scale most
    resamples chose, 0.0415 on the full climb's). On that scale, each resample's climb
    (`_coordinate_ascent`, on a bootstrap resample of the scored readers) chooses weights and a
    penalty, and their mean is the choice (`_mean_choice`).
    """
    full = _coordinate_ascent(shortlists, start, start_penalty, start_scale)
    n_scored = len(shortlists.ideal)
    if n_scored == 0:
        return full
    scale = full[2]
    rng = np.random.default_rng(seed)
    choices = [
        _coordinate_ascent(
            shortlists,
            start,
            start_penalty,
            scale,
            scales=(scale,),
            readers=rng.integers(0, n_scored, n_scored),
        )
        for _ in range(TUNING_RESAMPLES)
    ]
    return _mean_choice(shortlists, choices, fallback=full)


def _mean_choice(
    shortlists: Shortlists,
    choices: list[tuple[dict[str, float], float, str]],
    *,
    fallback: tuple[dict[str, float], float, str],
) -> tuple[dict[str, float], float, str]:
    """The mean of `choices` (made on `fallback`'s part scale): of their weights, each scaled
    to sum to one (a blend ranks alike at any scale) and then to `fallback`'s total, and of
    their penalties. A mean blend narrower than the ALS part's lists gives way to `fallback`,
    so the coverage floor still holds."""
    weights, _, scale = fallback
    total = sum(weights.values()) or 1.0
    mean_weights = total * np.mean([_sum_to_one(choice) for choice, _, _ in choices], axis=0)
    mean_penalty = float(np.mean([penalty for _, penalty, _ in choices]))
    mean = shortlists.score(mean_weights, mean_penalty, scale)
    if mean.coverage < _coverage_floor(shortlists, scale):
        return fallback
    return dict(zip(COMPONENTS, mean_weights.tolist(), strict=True)), mean_penalty, scale


def _sum_to_one(weights: dict[str, float]) -> np.ndarray:
    vector = np.array([weights[part] for part in COMPONENTS], dtype=np.float64)
    return vector / (vector.sum() or 1.0)


def _coverage_floor(shortlists: Shortlists, scale: str) -> float:
    """The coverage a tuned blend must reach: `COVERAGE_FLOOR` times the ALS part's alone (one
    part alone ranks books alike on every scale)."""
    als_only = np.array([part == "als" for part in COMPONENTS], dtype=np.float64)
    return COVERAGE_FLOOR * shortlists.score(als_only, 0.0, scale).coverage
