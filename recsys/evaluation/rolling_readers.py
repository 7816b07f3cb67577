"""Readers' lists on rolling-origin cuts: each model's NDCG per cut, coverage, the share of
list slots taken by the top 1 % of books, recall on books new to the catalog, and the default
model's lead over the best baseline with a bootstrap interval over test readers.

The cuts come from `recsys.evaluation.rolling` (development cuts first, confirmation cuts
last). The models compared on a cut are made by a caller's function of the cut's training data,
so baselines can choose their parameters on validation carved from that training data alone.
Per-book and session lists are evaluated beside this, on the same cuts, by their own module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import ComparisonResult, Progress, compare_models
from recsys.evaluation.rolling import rolling_cuts
from recsys.evaluation.splits import Split
from recsys.models.base import Recommender

#: A book first borrowed this long before a cut (or later) counts as new to the catalog.
NEW_BOOK_DAYS = 90
HOLDOUT = "holdout"
ModelMaker = Callable[[Dataset], Mapping[str, Recommender]]


@dataclass(frozen=True)
class ReaderCut:
    """One cut's comparison: `table` (model x metric) and each model's NDCG per test reader."""

    name: str
    role: str
    table: pd.DataFrame
    ndcg: pd.DataFrame
    params: dict[str, dict[str, object]]


@dataclass(frozen=True)
class Lead:
    """The default model's NDCG over the best baseline's: in the mean over cuts (against the
    baseline best in that mean) with its bootstrap interval, and on each cut (against the best
    baseline of the cut)."""

    best_baseline: str
    ratio: float
    low: float
    high: float
    per_cut: pd.Series
    coverage: float
    baseline_coverage: float


def new_book_recall(
    recs: pd.DataFrame, split: Split, *, k: int, since: pd.Timestamp | None
) -> float:
    """Share of held-out (reader, book) pairs on books new to the catalog that the reader's top-k
    list holds. New: no training interaction before `since` (None: no training interaction)."""
    train = split.train.interactions
    first = train.groupby(C.BOOK_ID, sort=False)[C.TIMESTAMP].min()
    old = first.index if since is None else first.index[(first < since).to_numpy()]
    held = split.test[[C.READER_ID, C.BOOK_ID]].astype(str)
    new = held.loc[~held[C.BOOK_ID].isin(pd.Index(old.astype(str)))]
    if new.empty:
        return float("nan")
    top = recs.loc[recs[C.RANK] <= k, [C.READER_ID, C.BOOK_ID]].astype(str)
    hits = new.merge(top.drop_duplicates(), on=[C.READER_ID, C.BOOK_ID], how="inner")
    return len(hits) / len(new)


def evaluate_reader_cut(
    name: str,
    role: str,
    split: Split,
    models: Mapping[str, Recommender],
    *,
    k: int,
    new_since: pd.Timestamp | None,
    seed: int,
    progress: Progress | None = None,
) -> ReaderCut:
    """Fit `models` on ``split.train``, list the test readers and score the lists."""
    comparison = compare_models(
        models, split, k=k, include_baselines=False, seed=seed, progress=progress
    )
    return _reader_cut(name, role, comparison, split, k=k, new_since=new_since)


def rolling_reader_quality(
    dataset: Dataset,
    make_models: ModelMaker,
    *,
    cuts: int = 4,
    confirming: int = 2,
    k: int = 10,
    seed: int = 42,
    progress: Progress | None = None,
) -> list[ReaderCut]:
    """Every rolling cut of `dataset`: the models `make_models` gives for its training data,
    compared on the readers' next loans."""
    found = []
    for cut in rolling_cuts(dataset, cuts=cuts, confirming=confirming):
        if progress is not None:
            progress(f"{cut.name}, {cut.role}: {cut.split.describe()['test_readers']} readers")
        since = cut.at - pd.Timedelta(days=NEW_BOOK_DAYS)
        models = make_models(cut.split.train)
        found.append(
            evaluate_reader_cut(
                cut.name,
                cut.role,
                cut.split,
                models,
                k=k,
                new_since=since,
                seed=seed,
                progress=progress,
            )
        )
    return found


def lead(
    cuts: Sequence[ReaderCut],
    *,
    default: str,
    baselines: Sequence[str],
    coverage_baseline: str,
    k: int = 10,
    level: float = 0.9,
    resamples: int = 2_000,
    seed: int = 0,
) -> Lead:
    """`default`'s lead over `baselines` on `cuts` (see `Lead`); the interval resamples each
    cut's test readers, paired across models."""
    ndcg = f"ndcg@{k}"
    means = pd.DataFrame({cut.name: cut.table[ndcg] for cut in cuts}).mean(axis=1)
    best = str(means.loc[list(baselines)].idxmax())
    ratio, low, high = stratified_bootstrap_ratio(
        [(cut.ndcg[default].to_numpy(), cut.ndcg[best].to_numpy()) for cut in cuts],
        level=level,
        resamples=resamples,
        seed=seed,
    )
    per_cut = pd.Series(
        {
            cut.name: cut.table.loc[default, ndcg] / cut.table.loc[list(baselines), ndcg].max()
            for cut in cuts
        }
    )
    coverage = f"coverage@{k}"
    return Lead(
        best_baseline=best,
        ratio=ratio,
        low=low,
        high=high,
        per_cut=per_cut,
        coverage=float(np.mean([cut.table.loc[default, coverage] for cut in cuts])),
        baseline_coverage=float(
            np.mean([cut.table.loc[coverage_baseline, coverage] for cut in cuts])
        ),
    )


def stratified_bootstrap_ratio(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    level: float = 0.9,
    resamples: int = 2_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The ratio of two models' mean-over-cuts figures and its `level` bootstrap interval:
    each resample draws each cut's readers with replacement (the models paired per reader), so
    every cut keeps its weight. `pairs` holds per cut (numerator, denominator) per reader."""
    if not pairs or any(len(top) == 0 or len(top) != len(bottom) for top, bottom in pairs):
        raise ValueError("pairs must hold, per cut, two equal non-empty per-reader arrays")
    rng = np.random.default_rng(seed)
    tops = np.zeros(resamples)
    bottoms = np.zeros(resamples)
    for top, bottom in pairs:
        draws = rng.integers(0, len(top), size=(resamples, len(top)))
        tops += np.asarray(top, dtype=np.float64)[draws].mean(axis=1)
        bottoms += np.asarray(bottom, dtype=np.float64)[draws].mean(axis=1)
    ratios = np.divide(tops, bottoms, out=np.full(resamples, np.nan), where=bottoms > 0)
    tail = (1 - level) / 2
    low, high = np.nanquantile(ratios, [tail, 1 - tail])
    bottom_mean = sum(float(np.mean(bottom)) for _, bottom in pairs)
    top_mean = sum(float(np.mean(top)) for top, _ in pairs)
    ratio = top_mean / bottom_mean if bottom_mean > 0 else float("nan")
    return float(ratio), float(low), float(high)


def _reader_cut(
    name: str,
    role: str,
    comparison: ComparisonResult,
    split: Split,
    *,
    k: int,
    new_since: pd.Timestamp | None,
) -> ReaderCut:
    table = comparison.table()
    table[f"new_book_recall@{k}"] = [
        new_book_recall(result.recommendations, split, k=k, since=new_since)
        for result in comparison.results.values()
    ]
    ndcg = pd.DataFrame(
        {model: result.per_reader["ndcg"] for model, result in comparison.results.items()}
    ).fillna(0.0)
    return ReaderCut(name, role, table, ndcg, comparison.params)


def describe_lead(result: Lead, *, k: int = 10) -> str:
    """One line: the mean lead with its interval, the worst cut and the coverage comparison."""
    return (
        f"default / best baseline ({result.best_baseline}) NDCG@{k}: mean {result.ratio:.2f}x "
        f"(90 % interval {result.low:.2f}-{result.high:.2f}), worst cut "
        f"{result.per_cut.min():.2f}x ({result.per_cut.idxmin()}); coverage "
        f"{result.coverage:.3f} vs {result.baseline_coverage:.3f}"
    )


def rolling_document(cuts: Sequence[ReaderCut], result: Lead) -> dict[str, object]:
    """The cuts' tables, the models' parameters and the lead as JSON-ready values (no ids)."""
    return {
        "cuts": [
            {
                "name": cut.name,
                "role": cut.role,
                "models": {
                    model: {
                        "metrics": {
                            key: (None if pd.isna(value) else float(value))
                            for key, value in cut.table.loc[model].items()
                        },
                        "params": cut.params.get(model, {}),
                    }
                    for model in cut.table.index
                },
            }
            for cut in cuts
        ],
        "lead": {
            "best_baseline": result.best_baseline,
            "mean_ratio": result.ratio,
            "interval_90": [result.low, result.high],
            "per_cut": {name: float(value) for name, value in result.per_cut.items()},
            "coverage": result.coverage,
            "baseline_coverage": result.baseline_coverage,
        },
    }
