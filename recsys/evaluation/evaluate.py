"""Score recommendation lists against a split, and compare recommenders trained on the same split.

`compare_models` always includes the two baselines a library should beat before trusting a model:
``popularity`` and ``als_default`` (implicit's ALS with implicit's own default parameters).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.works import work_map
from recsys.evaluation import metrics as M
from recsys.evaluation.splits import Split
from recsys.models.als import PlainALSRecommender
from recsys.models.base import Recommender, check_k, empty_recommendations
from recsys.models.matrix import map_blocks
from recsys.models.popularity import PopularityRecommender

#: Readers per `recommend` call: small enough that the cores share even a sample of 10,000.
RECOMMEND_BATCH = 1_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one model's lists on one split.

    Attributes
    ----------
    k
        List length scored.
    summary
        ``metric@k`` -> value (means over test readers; beyond-accuracy over all lists). The
        ranking metrics count a hit by work (`metrics.by_work`); ``record_<metric>@k`` count
        only the very record suggested; ``repeated_work_lists@k`` and
        ``borrowed_work_lists@k`` are the shares of lists holding a work twice or a work the
        reader borrowed before.
    per_reader
        One row per test reader (index ``reader_id``): ranking metrics (by work), ``novelty``,
        ``diversity`` and the segments ``activity, branch, audience`` with ``train_loans``.
    recommendations
        The scored top-k lists ``[reader_id, book_id, score, rank]`` of the test readers.
    exposure
        Per catalog book: in how many lists it appears (0 if never).
    """

    k: int
    summary: dict[str, float]
    per_reader: pd.DataFrame
    recommendations: pd.DataFrame
    exposure: pd.Series


@dataclass(frozen=True)
class ComparisonResult:
    """Several models scored on one split; `table()` is the comparison printed by the CLI."""

    k: int
    split: dict[str, Any]
    results: dict[str, EvaluationResult]
    fit_seconds: dict[str, float] = field(default_factory=dict)
    recommend_seconds: dict[str, float] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per model: every summary metric plus fit and recommend seconds."""
        rows = {
            name: {
                **result.summary,
                "fit_seconds": self.fit_seconds.get(name, np.nan),
                "recommend_seconds": self.recommend_seconds.get(name, np.nan),
            }
            for name, result in self.results.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


@dataclass(frozen=True)
class ReaderLists:
    """A model's lists for a split's test readers, made where the model was fitted (on
    ``split.train``), so that the model itself need not stay in memory until the comparison."""

    recommendations: pd.DataFrame
    fit_seconds: float
    recommend_seconds: float
    params: dict[str, Any]


def reader_lists(
    model: Recommender,
    split: Split,
    *,
    k: int,
    progress: Progress | None = None,
    name: str = "",
    similar_books: bool = False,
) -> ReaderLists:
    """Fit `model` on ``split.train`` for readers' lists only (with `similar_books`, fully:
    the fitted model then gives per-book lists too) and list the test readers."""
    label = name or model.name
    _say(progress, f"{label}: fitting on {len(split.train.interactions):,} interactions")
    started = time.perf_counter()
    if similar_books:
        model.fit(split.train)
    else:
        model.fit_for_reader_lists(split.train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    recs = recommend_in_batches(model, list(split.test_readers), k=check_k(k))
    recommend_seconds = time.perf_counter() - started
    _say(progress, f"{label}: fit {fit_seconds:.1f}s, recommend {recommend_seconds:.1f}s")
    return ReaderLists(recs, fit_seconds, recommend_seconds, _jsonable_params(model))


@dataclass(frozen=True)
class _Context:
    """What every model's evaluation on one split shares (computed once per comparison)."""

    split: Split
    catalog_books: pd.Index
    popularity: pd.Series
    n_readers: int
    subjects: pd.Series | None
    segments: pd.DataFrame
    #: book id -> work, for hits counted by work
    work_of: pd.Series

    @classmethod
    def build(cls, split: Split, catalog: pd.DataFrame | None) -> _Context:
        catalog = split.train.catalog if catalog is None else catalog
        books = split.train.books.union(pd.Index(catalog[C.BOOK_ID].astype(str)), sort=False)
        popularity = M.book_popularity(split.train).reindex(books, fill_value=0)
        subjects = None
        if C.SUBJECTS in catalog.columns and catalog[C.SUBJECTS].notna().any():
            subjects = pd.Series(
                catalog[C.SUBJECTS].to_numpy(), index=catalog[C.BOOK_ID].astype(str).to_numpy()
            )
        # only the test readers' segments are ever looked up (minutes at 10 million loans)
        segments = M.reader_segments(split.train, readers=split.test_readers)
        return cls(
            split=split,
            catalog_books=books,
            popularity=popularity,
            n_readers=len(split.train.id_codes.reader_ids),
            subjects=subjects,
            segments=segments,
            work_of=work_map(catalog),
        )


def evaluate_recommendations(
    recs: pd.DataFrame, split: Split, *, k: int, catalog: pd.DataFrame | None = None
) -> EvaluationResult:
    """Score lists ``[reader_id, book_id, rank]`` against `split.test` at cut-off `k`.

    Parameters
    ----------
    recs
        Recommendations; only the test readers' first `k` suggestions are scored.
    split
        The split the lists were made for (its training data defines popularity and segments).
    k
        Cut-off.
    catalog
        Catalog for coverage and subject diversity; defaults to ``split.train.catalog``.
    """
    return _evaluate(recs, _Context.build(split, catalog), k=check_k(k))


def compare_models(
    candidates: Mapping[str, Recommender],
    split: Split,
    *,
    k: int = 10,
    progress: Progress | None = None,
    include_baselines: bool = True,
    catalog: pd.DataFrame | None = None,
    seed: int | None = 42,
    lists: Mapping[str, ReaderLists] | None = None,
) -> ComparisonResult:
    """Fit every candidate on ``split.train``, recommend for the test readers and score them.

    The given instances are fitted in place for readers' lists (`fit_for_reader_lists`: a caller
    can keep them to list more readers, not for similar books). `lists`
    are models' lists already made by `reader_lists` on this split: they are scored first, as
    they are. Baselines ``popularity`` and ``als_default`` are added unless present or
    `include_baselines` is False. `progress` receives one line per step (for example
    ``print``); `seed` fixes the ALS baseline's initialization.
    """
    k = check_k(k)
    made = dict(lists or {})
    models = {name: model for name, model in candidates.items() if name not in made}
    if include_baselines:
        for name, model in baseline_models(seed=seed).items():
            if name not in made:
                models.setdefault(name, model)
    if not models and not made:
        raise ValueError("candidates is empty and include_baselines is False: nothing to compare")
    context = _Context.build(split, catalog)
    readers = list(split.test_readers)
    results = {name: _evaluate(entry.recommendations, context, k=k) for name, entry in made.items()}
    for name, result in results.items():
        _say(
            progress,
            f"{name}: lists made when it was fitted, ndcg@{k} {result.summary[f'ndcg@{k}']:.4f}",
        )
    fit_seconds = {name: entry.fit_seconds for name, entry in made.items()}
    recommend_seconds = {name: entry.recommend_seconds for name, entry in made.items()}
    params = {name: entry.params for name, entry in made.items()}
    for name, model in models.items():
        _say(progress, f"{name}: fitting on {len(split.train.interactions):,} interactions")
        started = time.perf_counter()
        model.fit_for_reader_lists(split.train)
        fit_seconds[name] = time.perf_counter() - started
        started = time.perf_counter()
        recs = recommend_in_batches(model, readers, k=k)
        recommend_seconds[name] = time.perf_counter() - started
        results[name] = _evaluate(recs, context, k=k)
        ndcg = results[name].summary[f"ndcg@{k}"]
        _say(
            progress,
            f"{name}: fit {fit_seconds[name]:.1f}s, recommend {recommend_seconds[name]:.1f}s, "
            f"ndcg@{k} {ndcg:.4f}",
        )
    return ComparisonResult(
        k=k,
        split=split.describe(),
        results=results,
        fit_seconds=fit_seconds,
        recommend_seconds=recommend_seconds,
        params={**params, **{name: _jsonable_params(model) for name, model in models.items()}},
    )


def recommend_in_batches(
    model: Recommender, readers: list[str], *, k: int, batch_size: int = RECOMMEND_BATCH
) -> pd.DataFrame:
    """`model.recommend` over readers in batches (bounded memory for dense scoring), the
    batches shared among the cores: the scoring is mostly numpy and scipy work that releases
    the GIL, so threads overlap it (see `benchmarks/bench_training.py`)."""
    parts = map_blocks(
        lambda start: model.recommend(readers[start : start + batch_size], k=k, exclude_seen=True),
        range(0, len(readers), batch_size),
    )
    if not parts:
        return empty_recommendations()
    return pd.concat(parts, ignore_index=True)


def baseline_models(*, seed: int | None = 42) -> dict[str, Recommender]:
    """Fresh, unfitted baselines: popularity and implicit's ALS with implicit's defaults (the
    classes, not the registry: the default model tunes itself with this package's metrics)."""
    return {
        "popularity": PopularityRecommender(),
        "als_default": PlainALSRecommender(random_state=seed),
    }


def _evaluate(recs: pd.DataFrame, context: _Context, *, k: int) -> EvaluationResult:
    split = context.split
    test_readers = split.test_readers
    recs = recs.loc[recs[C.READER_ID].astype(str).isin(test_readers)]
    top = M.top_k(recs, k)
    if C.RANK not in top.columns:
        top[C.RANK] = top["position"]
    top = top.drop(columns="position")
    works = context.work_of
    per_reader = M.ranking_metrics(M.by_work(top, works), M.relevant_works(split.test, works), k=k)
    per_record = M.ranking_metrics(top, split.test, k=k)
    per_reader["novelty"] = M.novelty(top, context.popularity, n_readers=context.n_readers)
    if context.subjects is not None:
        per_reader["diversity"] = M.intra_list_diversity(top, context.subjects)
    else:
        per_reader["diversity"] = np.nan
    per_reader = per_reader.join(context.segments)
    exposure = M.exposure_counts(top, context.catalog_books)
    summary = {
        **M.summarize_ranking(per_reader, k=k),
        **{f"record_{name}": v for name, v in M.summarize_ranking(per_record, k=k).items()},
        f"repeated_work_lists@{k}": M.repeated_work_share(top, works),
        f"borrowed_work_lists@{k}": M.borrowed_work_share(top, split.train, works),
        f"coverage@{k}": M.catalog_coverage(top, context.catalog_books),
        f"popular_share@{k}": M.popular_share(top, context.popularity),
        f"gini@{k}": M.gini(exposure.to_numpy()),
        f"novelty@{k}": float(per_reader["novelty"].mean()),
        f"diversity@{k}": float(per_reader["diversity"].mean()),
        "readers": float(len(per_reader)),
        "readers_without_list": float((~per_reader.index.isin(top[C.READER_ID])).sum()),
        "cold_start_readers": float(split.cold_start[C.READER_ID].nunique()),
    }
    return EvaluationResult(
        k=k, summary=summary, per_reader=per_reader, recommendations=top, exposure=exposure
    )


def _jsonable_params(model: Recommender) -> dict[str, Any]:
    """Parameters for metrics.json: JSON values as they are, anything else as its repr."""
    params = {}
    for key, value in model.get_params().items():
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        params[key] = value
    return params


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
