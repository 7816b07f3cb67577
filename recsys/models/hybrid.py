"""The default recommender a library gets without tuning anything by hand.

Eight signals, each put on one scale per reader (`PART_SCALES`: by its best score, or by the mean of
its ten best scores among books new to the reader), are blended:

- ``als``: implicit's ALS factors (broad taste), trained on recency-decayed loans;
- ``readers``: what the most similar readers (cosine over loans) borrowed;
- ``neighbours``: symmetric co-borrowing of the reader's books (item-item);
- ``sequence``: what readers borrowed *after* the reader's books (courses, curricula, series);
- ``content``: catalog similarity (subjects, author, title), the only signal for new books;
- ``popularity``: recent popularity, a prior (off by default: it narrows catalog coverage;
  popularity still orders ties and serves readers the model does not know);
- ``walks``: random walks book -> reader -> book with the destination's popularity damped
  (RP3beta, `recsys.models.rp3beta`): co-borrowing in which a heavy reader's pairs count less,
  the strongest single baseline on some logs. How much a heavy reader's pairs and a popular
  destination are damped (`walk_alpha`, `walk_beta`) differs between libraries as much as the
  blend does, so the tuning chooses them too;
- ``ease``: EASE's learnt item-item weights (`recsys.models.ease`) among the most-borrowed books
  (`EASE_BOOKS`), a strong single model on some logs, with the weight the tuning gives it.

Every list is k-anonymous (`min_pair_support`, k): the six collaborative parts start only from
the reader's books that at least k readers borrowed and reach only such books, and each link
they use rests on at least k distinct readers (borrowing in order, reader neighbours who borrowed
the book; a rarely borrowed book has no ALS factors). A book fewer than k readers borrowed is
reached through content and popularity only, so no list reveals what a few readers borrowed.

Readers' feedback trains every part as events (`recsys.models.weighting`); a book a reader is not
interested in is no positive signal of theirs, and the ALS part learns it as a negative one
(`DISMISSAL_WEIGHT`), on books at least k readers borrowed only.

After each list's first `PENALTY_FREE_BOOKS` books, the blend is multiplied by ``(1 + readers of
the book) ** -popularity_penalty``: the penalty lets a library whose readers move in cohorts (a
university's semesters) show each reader more than the same few course books, while the reader's
strongest matches still lead the list.

Libraries differ (a university's semester cohorts vs a public library's leisure reading). With
``tune_weights=True`` the hybrid chooses whether its parts weight recent loans at all (its
half-lives, or none where that is clearly better), the walks' exponents (the ones whose walks
alone list the validation readers' next loans best, `WALK_ALPHAS` x `WALK_BETAS`), then the blend
weights, the penalty and the part scale (`recsys.tuning.blend`) itself, on validation carved from
its own training data (by default the last `validation_share` of loans, widened where it holds
too few readers; a random share of each reader's loans with ``validation_method="random"``; only
pairs new to the reader: `recsys.tuning.validation`), then refits every part on all the data;
too little validation data keeps the given weights and recency. The constructor leaves tuning
off (so a fixed blend can be rebuilt exactly); `registry.default_model`, the model a library
gets, turns it on; the full fit's ALS then goes on from the tuning fit's factors
(`als.WARM_START_ITERATIONS`), which saves most of its cost. The fixed and tuned blends'
figures, and those that chose each default, are in `docs/quality.md`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import normalize

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.metrics import ndcg_from_hits
from recsys.models.als import WarmStartable
from recsys.models.base import BORROWED_NEXT, BORROWED_TOO, CATALOG
from recsys.models.ease import ease_weights, most_borrowed
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
    RankingRecommender,
    TrainingData,
    batch_readers,
    check_min_pair_support,
)
from recsys.models.rp3beta import rp3beta_similarity
from recsys.models.sequence import sequence_matrix
from recsys.models.top import largest, largest_per_row
from recsys.models.weighting import event_weights
from recsys.tuning.blend import (
    TUNE_K,
    Blend,
    Shortlists,
    clearly_best,
    coordinate_ascent,
    tune_blend,
)
from recsys.tuning.validation import VALIDATION_METHODS, blend_validation

COMPONENTS = (
    "als",
    "readers",
    "neighbours",
    "sequence",
    "content",
    "popularity",
    "walks",
    "ease",
)
#: Chosen on two real loan logs (Swiss university loans, Lib-SibGMU), the same for both; the
#: walks' weight on the development cuts of the rolling protocol, the EASE part's starting
#: weight set like the walks' and left to the tuning (`docs/quality.md`).
DEFAULT_WEIGHTS = {
    "als": 1.0,
    "readers": 0.5,
    "neighbours": 0.3,
    "sequence": 0.3,
    "content": 1.5,
    "popularity": 0.0,
    "walks": 1.0,
    "ease": 1.0,
}
#: The EASE part (`recsys.models.ease`) models the `EASE_BOOKS` books most readers borrowed (its
#: inverse is cubic in them), with ridge `EASE_L2`; a weight between two books is kept only where
#: at least k readers borrowed both.
EASE_BOOKS = 3000
EASE_L2 = 200.0
#: The walks part's RP3beta exponents the tuning tries (`walk_alpha`: transition probabilities
#: raised to it, below 1 a heavy reader's pairs count more than plain probabilities; `walk_beta`:
#: the destination's readers damped by it), the tuned RP3beta baseline's grid around the
#: constructor's defaults; each book's `WALK_NEIGHBOURS` strongest walks are kept.
WALK_ALPHAS = (0.5, 1.0)
WALK_BETAS = (0.0, 0.3, 0.5, 0.7)
WALK_NEIGHBOURS = 200
#: Each list's first books are the blend's best before the popularity penalty, which reorders
#: only the rest: a reader's strongest matches (often the course books all their cohort borrows)
#: stay first, and the penalty widens the tail.
PENALTY_FREE_BOOKS = 3
#: A catalog page's list ("readers who borrowed this also borrowed"): books borrowed next, after
#: the page's book, weigh `NEXT_WEIGHT` times books borrowed before it; catalog similarity adds
#: `PAGE_CONTENT_WEIGHT` to linked books and ranks the other books, at `REST_CONTENT_WEIGHT`,
#: after most of them. Chosen on the development cuts of two real logs
#: (`benchmarks/bench_book_lists.py`, figures in `docs/catalog-page.md`).
NEXT_WEIGHT = 4.0
PAGE_CONTENT_WEIGHT = 0.25
REST_CONTENT_WEIGHT = 0.1
#: Books each part adds to a validation reader's shortlist for blend tuning.
CANDIDATES_PER_PART = 50
VALIDATION_BATCH = 32
#: How each part's scores are put on one scale per reader before they are blended: by the part's
#: best score ("maximum"), or by the mean of its `SCALE_BOOKS` best scores among books new to the
#: reader ("best_mean"). With the maximum one outstanding book sets a part's scale and shrinks the
#: rest of its list against the other parts. Which suits a library depends on its circulation, so
#: the tuning chooses (the first is the default).
PART_SCALES = ("maximum", "best_mean")
SCALE_BOOKS = 10
#: How much a reader's "not interested" in a book weighs in the ALS part, as a negative entry
#: (implicit's ALS: preference 0 with this confidence, where an unseen book has confidence 1).
#: It moves the reader's own factors away from the book, and the book's (kept only for books at
#: least k readers borrowed) as one reader's loan would: no other part uses it.
DISMISSAL_WEIGHT = 1.0


def _scale_rows(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1] by its maximum (negative scores count as no evidence), in place:
    a batch's scores span the whole catalog, and every pass over them counts."""
    np.clip(scores, 0.0, None, out=scores)
    top = scores.max(axis=1, keepdims=True)
    evidence = top > 0
    scores /= np.where(evidence, top, 1.0)
    scores[~evidence[:, 0]] = 0.0  # no evidence (or NaN) is 0 for every book
    return scores


def _best_mean_factors(scaled: np.ndarray, own: list[np.ndarray]) -> np.ndarray:
    """Per row of scores scaled by their maximum, the factor that scales it by the mean of its
    `SCALE_BOOKS` best scores among books new to the reader instead (1 without such evidence)."""
    means = _best_means(scaled, own, np.arange(len(scaled)))
    factors = np.ones(len(scaled), dtype=np.float32)
    found = means > 0
    factors[found] = 1.0 / means[found]
    return factors


def _best_means(scores: np.ndarray, own: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Per row among `rows` (the others 0): the mean of its `SCALE_BOOKS` best scores among
    books new to the reader, a negative score counting as 0. The best scores are found by block
    maxima (`recsys.models.top`); `rows` must hold no NaN."""
    means = np.zeros(len(scores), dtype=scores.dtype)
    for r in rows:
        row, books = scores[r], own[r]
        kept = row[books].copy()
        row[books] = -np.inf
        means[r] = np.maximum(row[largest(row, SCALE_BOOKS)], 0.0).mean()
        row[books] = kept
    return means


def _add_scaled(
    total: np.ndarray, scores: np.ndarray, weight: float, own: list[np.ndarray] | None
) -> None:
    """``total += weight * scores`` on the part's scale per reader, as `_scale_rows` (and with
    `own`, `_best_mean_factors`) put it, in a few passes over `scores` (changed in place):
    a batch's scores span the whole catalog, and each pass over them counts."""
    top = scores.max(axis=1)
    evidence = top > 0  # no evidence (or NaN): 0 for every book
    divisor = np.where(evidence, top, 1.0).astype(np.float64)
    if own is not None:
        means = _best_means(scores, own, np.flatnonzero(evidence))
        divisor = np.where(means > 0, means, divisor)
    coefficient = np.where(evidence, weight / divisor, 0.0).astype(np.float32)
    np.maximum(scores, 0.0, out=scores)
    scores[~evidence] = 0.0
    scores *= coefficient[:, None]
    total += scores


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
    saved_derivations = (
        *RankingRecommender.saved_derivations,
        "collaborative_matrix",
        "reader_vectors_t",
        "sequence_t",
    )
    #: What `_tuned` chose, from the start of a fit until `_fit_model` applies it.
    _tuning: Tuning | None = None

    def __init__(
        self,
        *,
        weights: dict[str, float] | None = None,
        tune_weights: bool = False,
        validation_share: float = 0.1,
        validation_method: str = "temporal",
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
        walk_alpha: float = 1.0,
        walk_beta: float = 0.5,
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
        if not walk_alpha > 0 or not walk_beta >= 0:
            raise ValueError(
                f"walk_alpha must be > 0 and walk_beta >= 0; got {walk_alpha!r}, {walk_beta!r}"
            )
        if part_scale not in PART_SCALES:
            raise ValueError(f"part_scale must be one of {list(PART_SCALES)}; got {part_scale!r}")
        if validation_method not in VALIDATION_METHODS:
            raise ValueError(
                f"validation_method must be one of {list(VALIDATION_METHODS)}; "
                f"got {validation_method!r}"
            )
        if not 0 < validation_share < 1:
            raise ValueError(
                f"validation_share must be strictly between 0 and 1; got {validation_share!r}"
            )
        self.weights = weights
        self.tune_weights = tune_weights
        self.validation_share = validation_share
        self.validation_method = validation_method
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
        self.walk_alpha = walk_alpha
        self.walk_beta = walk_beta
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.min_pair_support = min_pair_support
        self.random_state = random_state

    # ---------------------------------------------------------------------------- fitting
    def _training_half_life(self, dataset: Dataset) -> float | None:
        """With `tune_weights`, the tuning (`_tuned`) runs first: it chooses whether the parts
        weight recent loans at all, which the training matrix is built with."""
        self._tuning = self._tuned(dataset) if self.tune_weights else None
        recency = self._tuning is None or self._tuning.recency
        return self.half_life_days if recency else None

    def _fit_model(self, data: TrainingData) -> None:
        tuning, self._tuning = self._tuning, None
        if tuning is None:
            tuning = Tuning(self._start_blend(), (self.walk_alpha, self.walk_beta), True)
        blend, walks = tuning.blend, tuning.walks
        self.recency_ = np.asarray([tuning.recency])
        self.walk_exponents_ = np.asarray(walks, dtype=np.float64)
        self.weights_ = np.array([blend.weights[part] for part in COMPONENTS])
        self.penalty_ = np.asarray([blend.penalty], dtype=np.float64)
        self.part_scale_ = blend.part_scale
        supported = supported_books(data.matrix, self.min_pair_support)
        # from the tuning fit's factors if it tuned (see `_tuned`)
        decayed = self._decayed(data, self._half_life(self.als_half_life_days))
        dismissed = DISMISSAL_WEIGHT * data.pairs.dismissed_matrix(data.readers)
        self._fit_als(keep_columns(decayed - dismissed, supported), data.readers, data.books)
        # a book fewer than k readers borrowed has no factors: ALS never scores it
        self.als_.item_factors[~supported] = 0.0
        self.sequence_ = sequence_matrix(
            data.dataset.interactions,
            data.pairs,
            window=self.sequence_window,
            min_readers=self.min_pair_support,
        )
        self.walks_ = self._walk_similarity(keep_columns(data.matrix, supported), *walks)
        self.ease_books_, self.ease_ = self._ease(keep_columns(data.matrix, supported))
        self.recent_popularity_ = np.asarray(
            self._decayed(data, self._half_life(self.popularity_half_life_days)).sum(axis=0),
            dtype=np.float64,
        ).ravel()
        self.popularity_ = self.recent_popularity_

    def _prepare(self) -> None:
        """Per-model matrices built once (after fit and load), so that scoring one reader only
        touches their own few rows: sparse sums, transposes and normalisation of whole
        matrices cost far more than scoring a reader."""
        super()._prepare()
        # fold-in solves one small system per reader: OpenMP's start-up would cost many times that
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

    def _keep_reader_rows(self, keep: np.ndarray) -> None:
        super()._keep_reader_rows(keep)
        # as in `fit`: a book now borrowed by fewer than k of the readers left has no factors
        self.als_.item_factors[~supported_books(self.matrix_, self.min_pair_support)] = 0.0

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

    def _ease(self, matrix: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The EASE part's books and their item x item weights, each resting on at least k
        readers who borrowed both books."""
        books = most_borrowed(matrix, EASE_BOOKS)
        modelled = matrix[:, books]
        weights = ease_weights(modelled, EASE_L2)
        borrowed = (modelled > 0).astype(np.float32)
        weights[(borrowed.T @ borrowed).toarray() < self.min_pair_support] = 0.0
        return books, weights

    def _walk_similarity(
        self, matrix: sparse.csr_matrix, alpha: float, beta: float
    ) -> sparse.csr_matrix:
        return rp3beta_similarity(
            matrix,
            alpha=alpha,
            beta=beta,
            neighbours=WALK_NEIGHBOURS,
            min_readers=self.min_pair_support,
        )

    def _start_blend(self) -> Blend:
        """The blend given to the constructor (`DEFAULT_WEIGHTS` completed by `weights`)."""
        weights = {**DEFAULT_WEIGHTS, **(self.weights or {})}
        return Blend(weights, self.popularity_penalty, self.part_scale)

    def _half_life(self, half_life_days: float | None) -> float | None:
        """A part's half-life as fitted: none where the tuning chose no recency weighting."""
        return half_life_days if self.recency_[0] else None

    def _tuned(self, dataset: Dataset) -> Tuning | None:
        """The recency, walks' exponents (`tune_walks`) and blend (weights, popularity penalty,
        part scale) that maximise NDCG@10 on validation carved from `dataset` (the last loans,
        or a random share of each reader's: `validation_method`), keeping the lists at least as
        varied as the ALS part's (`recsys.tuning.blend.tune_blend`); None if there are too few
        validation readers.

        The blend is climbed twice, on inner fits with the constructor's half-lives and with none
        (`_recency_choices`), and the recency stays unless the other climb's blend is clearly
        better (`clearly_best`): a log whose readers keep their tastes over decades gains nothing
        from forgetting their older loans, while a university's semesters do.
        """
        seed = 0 if self.random_state is None else self.random_state
        validation = blend_validation(
            dataset, share=self.validation_share, seed=seed, method=self.validation_method
        )
        if validation is None:
            return None
        start = self._start_blend()
        ndcg, fits = {}, {}
        for recency in self._recency_choices():
            inner = HybridRecommender(**{**self.get_params(), **_recency_params(recency)})
            inner.fit_for_reader_lists(validation.train)
            walks = inner.tune_walks(validation.readers, validation.relevant)
            shortlists = inner.validation_shortlists(validation.readers, validation.relevant)
            # one climb on every validation reader judges the recency; bagging (the cost of
            # `tune_blend`) is spent on the chosen one only
            climbed = coordinate_ascent(shortlists, start)
            vector = np.array([climbed.weights[part] for part in shortlists.parts])
            ndcg[recency] = shortlists.score(vector, climbed.penalty, climbed.part_scale).ndcg
            fits[recency] = (walks, shortlists, inner.starting_factors())
        recency = clearly_best(ndcg, True)
        walks, shortlists, factors = fits[recency]
        if self._start is None:  # the full fit's ALS goes on from the inner fit's factors
            self.start_next_fit_from(factors)
        return Tuning(tune_blend(shortlists, start, seed=seed), walks, recency)

    def _recency_choices(self) -> tuple[bool, ...]:
        """True (the constructor's half-lives) and, if any is set, False (none)."""
        half_lives = (self.half_life_days, self.als_half_life_days, self.popularity_half_life_days)
        return (True, False) if any(h is not None for h in half_lives) else (True,)

    def tune_walks(self, readers: np.ndarray, relevant: pd.DataFrame) -> tuple[float, float]:
        """The walks' exponents among `WALK_ALPHAS` x `WALK_BETAS` whose walks alone list the
        `relevant` ``[reader_id, book_id]`` pairs of `readers` best, if clearly better than the
        fitted ones (`recsys.tuning.blend.clearly_best`); the walks part is refitted with them."""
        self._check_fitted()
        targets = self._validation_targets(readers, relevant)
        step = batch_readers(self.n_columns, VALIDATION_BATCH)
        batches = []
        for s in range(0, len(readers), step):
            _, rows, _ = self.reader_rows(list(readers[s : s + step]), None)
            batches.append((keep_columns(rows, self.supported_), self._own_books(rows)))
        fitted = (float(self.walk_exponents_[0]), float(self.walk_exponents_[1]))
        ndcg = {fitted: _list_ndcg(self.walks_, batches, targets)}
        # only the fitted walks and the best so far are kept: each is as big as the part
        leader, leading_walks = fitted, self.walks_
        for alpha in WALK_ALPHAS:
            for beta in WALK_BETAS:
                if (alpha, beta) in ndcg:
                    continue
                walks = self._walk_similarity(self.collaborative_matrix_, alpha, beta)
                ndcg[(alpha, beta)] = _list_ndcg(walks, batches, targets)
                if ndcg[(alpha, beta)].mean() > ndcg[leader].mean():
                    leader, leading_walks = (alpha, beta), walks
        chosen = clearly_best(ndcg, fitted)  # the leader (the first best mean) or the fitted
        self.walks_ = leading_walks if chosen == leader else self.walks_
        self.walk_exponents_ = np.asarray(chosen, dtype=np.float64)
        return chosen

    def _validation_targets(self, readers: np.ndarray, relevant: pd.DataFrame) -> sparse.csr_matrix:
        """Readers x books, 1 where `relevant` (``[reader_id, book_id]``) pairs a reader of
        `readers` with a book of the model."""
        relevant = relevant.assign(
            row=pd.Index(readers).get_indexer(pd.Index(relevant[C.READER_ID]))
        )
        relevant = relevant.assign(book=self._columns(relevant[C.BOOK_ID]))
        relevant = relevant[(relevant["row"] >= 0) & (relevant["book"] >= 0)]
        return sparse.csr_matrix(
            (np.ones(len(relevant)), (relevant["row"], relevant["book"])),
            shape=(len(readers), self.n_columns),
        )

    def validation_shortlists(self, readers: np.ndarray, relevant: pd.DataFrame) -> Shortlists:
        """Each part's scores on the shortlists of `readers` (the union of the parts' best books
        new to each reader) and which of those books are their `relevant` ``[reader_id,
        book_id]`` pairs: what blend tuning scores (`recsys.tuning.blend`)."""
        self._check_fitted()
        targets = self._validation_targets(readers, relevant)
        # parts are scored per reader: small batches give the same shortlists in a fraction of
        # the memory (six dense readers x books arrays per batch)
        step = batch_readers(self.n_columns, VALIDATION_BATCH)
        batches = [
            self._shortlist(list(readers[s : s + step]), targets[s : s + step])
            for s in range(0, len(readers), step)
        ]
        return Shortlists(
            parts=COMPONENTS,
            scores=np.concatenate([b.scores for b in batches], axis=1),
            best_mean_factors=np.concatenate([b.best_mean_factors for b in batches], axis=1),
            books=np.concatenate([b.books for b in batches], axis=0),
            hits=np.concatenate([b.hits for b in batches], axis=0),
            n_relevant=np.diff(targets.indptr),
            log_readers=_log_readers(self.matrix_),
            penalty_free_books=PENALTY_FREE_BOOKS,
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
        unscaled = self._unscaled_parts(rows, reader_index, folded, parts)
        for part in parts:
            if part == "popularity":
                yield part, np.broadcast_to(self.popularity_parts_[part_scale], rows.shape)
                continue
            _, scores = next(unscaled)
            scores = _scale_rows(scores)
            if best_mean and own is not None:
                scores *= _best_mean_factors(scores, own)[:, None]
            yield part, scores

    def _unscaled_parts(
        self,
        rows: sparse.csr_matrix,
        reader_index: np.ndarray,
        folded: np.ndarray,
        parts: tuple[str, ...],
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Each of `parts` but popularity, in `COMPONENTS` order, as the part scores books: a
        fresh array each, the caller's to change."""
        # collaborative parts start only from books at least k readers borrowed (k-anonymity)
        collaborative = keep_columns(rows, self.supported_)
        after = np.zeros(0)  # what readers borrowed after these readers' books: two parts' base
        if "neighbours" in parts or "sequence" in parts:
            after = dense_product(collaborative, self.sequence_)
        for part in parts:
            if part == "popularity":
                continue
            if part == "als":
                scores = self._als_scores(collaborative, reader_index, folded)
            elif part == "readers":
                scores = self._reader_neighbour_scores(collaborative)
            elif part == "neighbours":  # borrowed after or before: symmetric co-borrowing
                scores = after + dense_product(collaborative, self.sequence_t_)
            elif part == "sequence":  # the last part to use `after`: the caller's now
                scores = after
            elif part == "walks":
                scores = dense_product(collaborative, self.walks_)
            elif part == "ease":
                scores = np.zeros(rows.shape, dtype=np.float32)
                scores[:, self.ease_books_] = collaborative[:, self.ease_books_] @ self.ease_
            else:
                scores = content_scores(self.content_, rows)
            yield part, scores

    def _scores(
        self, rows: sparse.csr_matrix, reader_index: np.ndarray, folded: np.ndarray
    ) -> np.ndarray:
        """The blend of the parts, each on the fitted scale, with the popularity penalty: what
        `_parts` would give weighted and summed, with fewer passes over the catalog."""
        weights = dict(zip(COMPONENTS, self.weights_, strict=True))
        total = np.zeros(rows.shape, dtype=np.float32)
        used = tuple(part for part in COMPONENTS if weights[part])
        best_mean = self.part_scale_ == "best_mean"
        # the penalty's head leaves the readers' own books out; the best books' mean too
        own = self._own_books(rows) if self.penalty_[0] or best_mean else None
        if "popularity" in used:  # one read-only row shared by every reader
            total += weights["popularity"] * self.popularity_parts_[self.part_scale_]
        for part, scores in self._unscaled_parts(rows, reader_index, folded, used):
            _add_scaled(total, scores, weights[part], own if best_mean else None)
        if self.penalty_[0] and own is not None:
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
        # sparse: a dense row per reader would be as wide as the reader list, and scanning it
        # cost more than the neighbours themselves
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
            "walk_alpha": float(self.walk_exponents_[0]),
            "walk_beta": float(self.walk_exponents_[1]),
            **_recency_params(bool(self.recency_[0])),
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
        """Readers' co-borrowing of `book` and each of `others`: borrowed next (after `book`)
        counts `NEXT_WEIGHT` times, borrowed before once."""
        row = np.zeros(self.sequence_.shape[1], dtype=np.float64)
        for matrix, weight in ((self.sequence_, NEXT_WEIGHT), (self.sequence_t_, 1.0)):
            start, end = matrix.indptr[book], matrix.indptr[book + 1]
            row[matrix.indices[start:end]] += weight * matrix.data[start:end]
        return row[others]

    def _pair_scores(self, book: int, others: np.ndarray) -> np.ndarray:
        return self._linked_scores(book, others, self._content_similarity(book))

    def _linked_scores(self, book: int, others: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """Co-borrowing of `book` with each of `others` on its best's scale, plus their catalog
        `similarity` (to every column) at `PAGE_CONTENT_WEIGHT`."""
        co = self._co_borrowing(book, others)
        content = similarity[others].astype(np.float64)
        return co / max(co.max(initial=0.0), 1e-12) + PAGE_CONTENT_WEIGHT * content

    def _neighbours(self, book: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A borrowed book's linked books (`_pair_scores`), then its catalog neighbours among
        the other books at `REST_CONTENT_WEIGHT`: a book few readers link to still gets a full
        list of books like it, and content reveals no reader."""
        if not self.borrowed_[book]:  # a book nobody borrowed: catalog neighbours only
            return super()._neighbours(book)
        others, fill = self._linked(book)
        similarity = self._content_similarity(book)  # one pass for both kinds of neighbour
        scores = self._linked_scores(book, others, similarity)
        similarity[others] = 0.0
        similarity[book] = 0.0
        extra = np.flatnonzero(similarity > 0)
        content = REST_CONTENT_WEIGHT * similarity[extra].astype(np.float64)
        return np.concatenate([others, extra]), np.concatenate([scores, content]), fill

    def similar_signals(self, book: str, similar: Sequence[str]) -> list[str]:
        """`BORROWED_NEXT` where at least k readers borrowed the book after `book`,
        `BORROWED_TOO` where at least k borrowed both, else `CATALOG`."""
        self._check_fitted()
        index = self._columns([book])[0]
        others = self._columns(similar)
        if index < 0 or not self.borrowed_[index]:
            return [CATALOG] * len(others)
        known = np.maximum(others, 0)
        after = np.asarray(self.sequence_[index, known].todense()).ravel() > 0
        linked = np.asarray(self._check_links()[index, known].todense()).ravel() > 0
        return [
            CATALOG if o < 0 else BORROWED_NEXT if a else BORROWED_TOO if t else CATALOG
            for o, a, t in zip(others.tolist(), after.tolist(), linked.tolist(), strict=True)
        ]

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
            **csr_state("walks", self.walks_),
            "ease_books": self.ease_books_,
            "ease": self.ease_,
            "user_factors": self.als_.user_factors,
            "item_factors": self.als_.item_factors,
            "recent_popularity": self.recent_popularity_,
            "weights": self.weights_,
            "penalty": self.penalty_,
            "part_scale": np.asarray([PART_SCALES.index(self.part_scale_)]),
            "walk_exponents": self.walk_exponents_,
            "recency": self.recency_,
        }

    def _restore_model(self, arrays: dict[str, Any]) -> None:
        self.sequence_ = csr_restore("sequence", arrays)
        self.als_ = self._new_als()
        self.als_.user_factors = arrays["user_factors"]
        self.als_.item_factors = arrays["item_factors"]
        self.recent_popularity_ = arrays["recent_popularity"]
        # models saved before the walks part had no walks: their blend gives it no weight
        if "walks.data" in arrays:
            self.walks_ = csr_restore("walks", arrays)
        else:
            self.walks_ = sparse.csr_matrix(self.sequence_.shape, dtype=np.float32)
        # models saved before the EASE part had none: their blend gives it no weight
        self.ease_books_ = arrays.get("ease_books", np.zeros(0, dtype=np.int64))
        self.ease_ = arrays.get("ease", np.zeros((0, 0), dtype=np.float32))
        missing = len(COMPONENTS) - len(arrays["weights"])
        self.weights_ = np.concatenate([arrays["weights"], np.zeros(missing)])
        self.penalty_ = arrays["penalty"]
        # models saved before the part scale was chosen scaled by the maximum
        scale = arrays["part_scale"][0] if "part_scale" in arrays else 0
        self.part_scale_ = PART_SCALES[int(scale)]
        # models saved before the exponents were chosen walked with the constructor's
        self.walk_exponents_ = arrays.get(
            "walk_exponents", np.asarray([self.walk_alpha, self.walk_beta], dtype=np.float64)
        )
        # models saved before the recency was chosen weighted recent loans as constructed
        self.recency_ = arrays.get("recency", np.asarray([True]))


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


def _list_ndcg(
    walks: sparse.csr_matrix,
    batches: list[tuple[sparse.csr_matrix, list[np.ndarray]]],
    targets: sparse.csr_matrix,
) -> np.ndarray:
    """NDCG@`TUNE_K` per reader with next loans in `targets` of the lists `walks` alone makes
    from each batch's reader rows, leaving out their own books."""
    hits, start = [], 0
    for rows, own in batches:
        scores = dense_product(rows, walks)
        for row, books in zip(scores, own, strict=True):
            row[books] = 0.0
        top = largest_per_row(scores, TUNE_K)
        reader = np.arange(len(own))[:, None]
        found = np.asarray(targets[start + reader, top].todense()) > 0
        hits.append(found & (scores[reader, top] > 0))
        start += len(own)
    relevant = np.diff(targets.indptr)
    return ndcg_from_hits(np.concatenate(hits)[relevant > 0], relevant[relevant > 0], TUNE_K)


def _log_readers(matrix: sparse.csr_matrix) -> np.ndarray:
    """``log(1 + distinct readers)`` per book: the scale of the popularity penalty."""
    return np.log1p(column_counts(matrix).astype(np.float64))


def _recency_params(recency: bool) -> dict[str, Any]:
    """Constructor parameters of a fit with tuning off, with the constructor's half-lives if
    `recency`, else with none."""
    fixed: dict[str, Any] = {"tune_weights": False}
    if not recency:
        fixed.update(half_life_days=None, als_half_life_days=None, popularity_half_life_days=None)
    return fixed


class Tuning(NamedTuple):
    """What the tuning chose: the blend, the walks' exponents and whether the parts weight
    recent loans above older ones (the constructor's half-lives) or not (none)."""

    blend: Blend
    walks: tuple[float, float]
    recency: bool


class ShortlistBatch(NamedTuple):
    """`Shortlists`' arrays for one batch of validation readers."""

    scores: np.ndarray
    best_mean_factors: np.ndarray
    books: np.ndarray
    hits: np.ndarray
