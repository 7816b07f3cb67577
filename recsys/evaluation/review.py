"""What the librarians' notebooks show: one run's model reviewed against simple baselines.

`load_review_context` loads a published (or any) run and today's stored data. Its `comparison`
refits the run's recipe (model name and parameters from the manifest) on the older 90 % of the
loans and scores it, beside popularity and plain implicit ALS, on the newest 10 %: the bundle as
served was trained on data that may include that period, so scoring it directly would flatter it.

The other functions turn a `ComparisonResult` into tables in plain words. None of them returns or
prints a reader id: tables are per model, per book or per segment of readers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from recsys import artifacts
from recsys.columns import SUBJECT_SEPARATOR, Events
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import filter_training_data, load_consent
from recsys.data.dataset import Dataset
from recsys.db.engine import make_engine
from recsys.db.queries import load_dataset
from recsys.db.runs import list_runs
from recsys.erasure import latest_erasure
from recsys.evaluation import metrics as M
from recsys.evaluation.evaluate import ComparisonResult, EvaluationResult, compare_models
from recsys.evaluation.report import (
    exposure_curve,
    never_suggested,
    segment_comparison,
    segment_table,
)
from recsys.evaluation.splits import Split, temporal_split
from recsys.exceptions import RecsysError
from recsys.models import registry
from recsys.models.base import check_k

TEST_SHARE = 0.1
PUBLISHED_LABEL = "published model"
BASELINE_LABELS = {"popularity": "popularity (most borrowed)", "als_default": "plain implicit ALS"}
#: Models of the nightly's metrics.json, as the run history names them.
NIGHTLY_LABELS = {
    "candidate": "model trained that night",
    "published_refit": "model in service (refitted)",
    "als_default": "plain implicit ALS",
    "popularity": "popularity (most borrowed)",
}
SEGMENTS = ("activity", "branch", "audience", "subject")
#: (metric, column title, scale): the comparison table in plain words.
QUALITY_COLUMNS = (
    ("hit_rate", "readers who borrowed a suggested book (%)", 100.0),
    ("precision", "suggestions that were borrowed (%)", 100.0),
    ("recall", "borrowed books that had been suggested (%)", 100.0),
    ("ndcg", "ranking quality (NDCG, 0 to 1)", 1.0),
    ("coverage", "collection suggested to someone (%)", 100.0),
)
NEVER_BORROWED = "never borrowed"
TOO_FEW_READERS = "too few readers to be linked (privacy rule)"
RARE_AUDIENCE = "audience few readers belong to"
OUTRANKED = "borrowed, but other books ranked higher"
REASONS = (NEVER_BORROWED, TOO_FEW_READERS, RARE_AUDIENCE, OUTRANKED)


def review_settings(*, database_url: str | None = None, models_dir: str | None = None) -> Settings:
    """Settings from the environment (and `.env`), with the notebook's overrides when given."""
    overrides: dict[str, Any] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    if models_dir is not None:
        overrides["models_dir"] = Path(models_dir)
    return Settings(**overrides)


def load_training_data(engine: Engine, settings: Settings) -> Dataset:
    """The stored data as the nightly trains on it (readers who may contribute only)."""
    return filter_training_data(load_dataset(engine), load_consent(engine), settings)


def load_run(
    models_dir: Path, run_id: str | None = None, *, latest_erasure: int
) -> artifacts.Bundle:
    """The verified bundle of `run_id`, or the published one when `run_id` is None (refused if
    it does not reflect `latest_erasure`: see `recsys.artifacts.load_bundle`)."""
    if run_id is None:
        return artifacts.load_current(Path(models_dir), latest_erasure=latest_erasure)
    path = artifacts.run_path(Path(models_dir), run_id)
    if not path.is_dir():
        raise RecsysError(f"run_id {run_id!r} does not exist in {Path(models_dir) / 'runs'}")
    return artifacts.load_bundle(path, latest_erasure=latest_erasure)


@dataclass
class ReviewContext:
    """One run under review and the stored data; the evaluation is computed on first use."""

    settings: Settings
    engine: Engine
    bundle: artifacts.Bundle
    dataset: Dataset
    k: int = 10

    @property
    def run_id(self) -> str:
        return self.bundle.run_id

    @cached_property
    def model_label(self) -> str:
        """How tables and plots name the reviewed model."""
        current = artifacts.current_run_id(Path(self.settings.models_dir))
        return PUBLISHED_LABEL if current == self.run_id else f"model of run {self.run_id}"

    @cached_property
    def split(self) -> Split:
        """The newest 10 % of loans held out, as in the nightly evaluation."""
        try:
            return temporal_split(self.dataset, test_share=TEST_SHARE)
        except ValueError as error:
            raise RecsysError(f"the stored data cannot be split for review: {error}") from None

    @cached_property
    def comparison(self) -> ComparisonResult:
        """The run's recipe refitted on the training part, beside the two baselines."""
        comparison = evaluate_recipe(
            self.bundle.manifest,
            self.split,
            k=self.k,
            label=self.model_label,
            seed=self.settings.seed,
        )
        return add_subject_segment(comparison, self.split.train)

    @property
    def model_result(self) -> EvaluationResult:
        return self.comparison.results[self.model_label]

    @cached_property
    def popularity(self) -> pd.Series:
        """Distinct training readers per book (0 for books nobody borrowed)."""
        return M.book_popularity(self.split.train)

    @property
    def min_pair_support(self) -> int:
        """The privacy rule the model was trained with (distinct readers linking two books)."""
        params = self.bundle.manifest["model"].get("params", {})
        return int(params.get("min_pair_support") or self.settings.min_pair_support)

    def describe(self) -> pd.Series:
        """The facts a reader of the report needs first, in plain words (counts only)."""
        split = self.split.describe()
        manifest = self.bundle.manifest
        facts = {
            "run": self.run_id,
            "model": manifest["model"]["name"],
            "trained at (UTC)": manifest.get("created_at", "unknown"),
            "loans, renewals and holds stored": int(
                self.dataset.interactions[C.EVENT].isin(Events.LOAN_EVENTS).sum()
            ),
            "books in the catalog": len(self.dataset.catalog),
            "test period starts (UTC)": split.get("test_start"),
            "readers scored in the test period": split.get("test_readers"),
            "new books they borrowed in it": split.get("test_pairs"),
            "readers without earlier loans (not scored)": split.get("cold_start_readers"),
            "list length (K)": self.k,
        }
        return pd.Series(facts, name="value", dtype=object).rename_axis("fact")


def load_review_context(
    settings: Settings, run_id: str | None = None, *, k: int = 10
) -> ReviewContext:
    """Load run `run_id` (default: the published model) and the stored data for review."""
    engine = make_engine(settings)
    bundle = load_run(Path(settings.models_dir), run_id, latest_erasure=latest_erasure(engine))
    dataset = load_training_data(engine, settings)
    if not dataset.interactions[C.EVENT].isin(Events.LOAN_EVENTS).any():
        raise RecsysError("the store holds no loans yet; run `recsys nightly` after an ingest")
    return ReviewContext(
        settings=settings, engine=engine, bundle=bundle, dataset=dataset, k=check_k(k)
    )


def evaluate_recipe(
    manifest: dict[str, Any], split: Split, *, k: int, label: str, seed: int | None = 42
) -> ComparisonResult:
    """Refit the manifest's model on ``split.train`` and score it with the two baselines."""
    spec = manifest["model"]
    recipe = registry.build_model(spec["name"], **spec.get("params", {}))
    comparison = compare_models({label: recipe}, split, k=k, seed=seed, catalog=split.train.catalog)
    return relabel(comparison, BASELINE_LABELS)


def relabel(comparison: ComparisonResult, labels: dict[str, str]) -> ComparisonResult:
    """The same comparison with models renamed (names not in `labels` stay)."""

    def rename(mapping: dict[str, Any]) -> dict[str, Any]:
        return {labels.get(name, name): value for name, value in mapping.items()}

    return dataclasses.replace(
        comparison,
        results=rename(comparison.results),
        fit_seconds=rename(comparison.fit_seconds),
        recommend_seconds=rename(comparison.recommend_seconds),
        params=rename(comparison.params),
    )


def reader_main_subject(train: Dataset) -> pd.Series:
    """Per training reader: the first subject heading they borrowed most (``unknown`` if none).

    Ties go to the alphabetically first subject, so the segment is stable between runs.
    """
    frame = train.interactions
    loans = frame.loc[frame[C.EVENT].isin(Events.LOAN_EVENTS), [C.READER_ID, C.BOOK_ID]]
    readers = pd.Index(frame[C.READER_ID].astype(str).unique(), name=C.READER_ID)
    catalog = train.catalog
    if C.SUBJECTS not in catalog.columns:
        return pd.Series(M.UNKNOWN, index=readers, name="subject")
    first = catalog[C.SUBJECTS].fillna("").astype(str).str.split(SUBJECT_SEPARATOR.strip()).str[0]
    first = pd.Series(first.str.strip().to_numpy(), index=catalog[C.BOOK_ID].astype(str))
    first = first.loc[(first != "") & ~first.index.duplicated()]
    subject = loans[C.BOOK_ID].astype(str).map(first)
    pairs = pd.DataFrame(
        {"reader": loans[C.READER_ID].astype(str).to_numpy(), "subject": subject.to_numpy()}
    ).dropna()
    counts = pairs.groupby(["reader", "subject"]).size().rename("n").reset_index()
    counts = counts.sort_values(["reader", "n", "subject"], ascending=[True, False, True])
    best = counts.drop_duplicates("reader").set_index("reader")["subject"]
    return best.reindex(readers).fillna(M.UNKNOWN).rename("subject")


def add_subject_segment(comparison: ComparisonResult, train: Dataset) -> ComparisonResult:
    """Add the readers' main subject as a ``subject`` column to every model's per-reader table."""
    subject = reader_main_subject(train)
    results = {
        name: dataclasses.replace(
            result,
            per_reader=result.per_reader.drop(columns="subject", errors="ignore").join(
                subject.reindex(result.per_reader.index).fillna(M.UNKNOWN)
            ),
        )
        for name, result in comparison.results.items()
    }
    return dataclasses.replace(comparison, results=results)


def quality_table(comparison: ComparisonResult) -> pd.DataFrame:
    """Per model, the main measures in plain words (percentages where they read naturally)."""
    k = comparison.k
    rows = {
        name: {
            title: result.summary[f"{metric}@{k}"] * scale
            for metric, title, scale in QUALITY_COLUMNS
        }
        for name, result in comparison.results.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def coverage_overview(comparison: ComparisonResult) -> pd.DataFrame:
    """Per model, how widely suggestions spread over the collection, in plain words."""
    k = comparison.k
    rows = {}
    for name, result in comparison.results.items():
        summary = result.summary
        rows[name] = {
            "books suggested to someone": int((result.exposure > 0).sum()),
            "books in the catalog": len(result.exposure),
            "collection suggested (%)": 100.0 * summary[f"coverage@{k}"],
            "slots taken by the 1 % most borrowed books (%)": (
                100.0 * summary[f"popular_share@{k}"]
            ),
            "inequality of exposure (Gini, 0 = equal)": summary[f"gini@{k}"],
            "unusualness of suggestions (novelty, bits)": summary[f"novelty@{k}"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def exposure_curves(comparison: ComparisonResult) -> dict[str, pd.DataFrame]:
    """Per model, the concentration curve of its suggestions over the whole catalog."""
    return {
        name: exposure_curve(result.recommendations, result.exposure.index)
        for name, result in comparison.results.items()
    }


def run_history(engine: Engine) -> pd.DataFrame:
    """The nightly metrics of every recorded run, one row per run, model and metric.

    Columns ``run_id, started_at, status, decision, model, metric, value``; oldest first. Runs
    that stopped before evaluating have no rows.
    """
    runs = list_runs(engine)
    columns = ["run_id", "started_at", "status", "decision", "model", "metric", "value"]
    keys = [c for c in runs.columns if c.startswith("metrics.") and c.count(".") >= 2]
    if runs.empty or not keys:
        return pd.DataFrame(columns=columns)
    long = runs.melt(
        id_vars=["run_id", "started_at", "status", "decision"],
        value_vars=keys,
        var_name="key",
        value_name="value",
    ).dropna(subset=["value"])
    parts = long["key"].str.split(".", n=2, expand=True)
    long = long.assign(model=parts[1], metric=parts[2], value=long["value"].astype(float))
    return (
        long.sort_values(["started_at", "run_id"], kind="stable")
        .loc[:, columns]
        .reset_index(drop=True)
    )


def history_table(
    history: pd.DataFrame, *, metric: str = "ndcg@10", last: int = 10
) -> pd.DataFrame:
    """The newest `last` runs: status, decision and `metric` per model (named as in plots)."""
    chosen = history.loc[history["metric"] == metric]
    if chosen.empty:
        return pd.DataFrame(columns=["started (UTC)", "status", "decision"])
    table = chosen.pivot_table(
        index=["run_id", "started_at", "status", "decision"],
        columns="model",
        values="value",
        dropna=False,
        aggfunc="first",
    )
    table = table.reset_index().sort_values("started_at").tail(last)
    table["started_at"] = table["started_at"].dt.strftime("%Y-%m-%d %H:%M")
    known = [m for m in NIGHTLY_LABELS if m in table.columns]
    table = table.loc[:, ["run_id", "started_at", "status", "decision", *known]]
    renamed = {"started_at": "started (UTC)", **{m: NIGHTLY_LABELS[m] for m in known}}
    return table.rename(columns=renamed).set_index("run_id").rename_axis(None, axis=1)


def long_tail_table(
    comparison: ComparisonResult, popularity: pd.Series, *, head_share: float = 0.2
) -> pd.DataFrame:
    """Loans and suggestion slots shared between the most borrowed books, the rest, and unborrowed.

    `popularity` is training readers per book; the head is the `head_share` most borrowed of the
    borrowed books. Columns: ``books``, ``loans (%)`` and one ``% of suggestions`` column per model.
    """
    if not 0 < head_share < 1:
        raise ValueError(f"head_share must be between 0 and 1; got {head_share}")
    first = next(iter(comparison.results.values()))
    books = first.exposure.index
    readers = popularity.reindex(books, fill_value=0).astype(float)
    borrowed = readers.loc[readers > 0].sort_values(ascending=False, kind="stable")
    n_head = int(np.ceil(head_share * len(borrowed))) if len(borrowed) else 0
    head_label = f"most borrowed {head_share:.0%} of borrowed books"
    group = pd.Series(NEVER_BORROWED, index=books)
    group.loc[borrowed.index] = "other borrowed books"
    group.loc[borrowed.index[:n_head]] = head_label
    order = [head_label, "other borrowed books", NEVER_BORROWED]
    table = pd.DataFrame({"books": group.value_counts().reindex(order, fill_value=0)})
    table["loans (%)"] = _shares(readers, group, order)
    for name, result in comparison.results.items():
        table[f"{name}: suggestions (%)"] = _shares(result.exposure.astype(float), group, order)
    return table.rename_axis("books group")


def _shares(values: pd.Series, group: pd.Series, order: list[str]) -> pd.Series:
    totals = values.groupby(group.reindex(values.index)).sum().reindex(order, fill_value=0.0)
    whole = totals.sum()
    return 100.0 * totals / whole if whole > 0 else totals * np.nan


def branch_coverage(result: EvaluationResult, holdings: pd.DataFrame) -> pd.DataFrame:
    """Per branch (the readers' main branch): how much of its shelves the suggestions reach.

    Columns: ``readers``, ``books held``, ``held books suggested (%)`` (share of the branch's
    titles in at least one of its readers' lists) and ``suggestions held there (%)`` (share of
    its readers' suggestion slots that the branch can hand out).
    """
    branch_of = result.per_reader["branch"].astype(str)
    recs = result.recommendations[[C.READER_ID, C.BOOK_ID]].astype(str)
    recs = recs.assign(branch=recs[C.READER_ID].map(branch_of))
    held = holdings.loc[:, [C.BOOK_ID, C.LIBRARY_ID]].dropna().astype(str).drop_duplicates()
    held_sets = held.groupby(C.LIBRARY_ID)[C.BOOK_ID].agg(set)
    rows = {}
    for branch, readers in branch_of.value_counts().items():
        shelf = held_sets.get(branch, set())
        slots = recs.loc[recs["branch"] == branch, C.BOOK_ID]
        suggested = set(slots)
        rows[branch] = {
            "readers": int(readers),
            "books held": len(shelf),
            "held books suggested (%)": (
                100.0 * len(suggested & shelf) / len(shelf) if shelf else np.nan
            ),
            "suggestions held there (%)": (
                100.0 * slots.isin(shelf).mean() if len(slots) and shelf else np.nan
            ),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("branch")
    return table.sort_values("readers", ascending=False, kind="stable")


def never_suggested_reasons(
    result: EvaluationResult,
    popularity: pd.Series,
    catalog: pd.DataFrame | None = None,
    *,
    min_pair_support: int,
    rare_audience_share: float = 0.05,
) -> pd.DataFrame:
    """Books in no list, each with the likeliest reason, most borrowed first.

    Reasons, first that applies: nobody borrowed it in the training period; fewer distinct
    readers than `min_pair_support` borrowed it, so the privacy rule keeps it unlinked to other
    books; its audience is the main audience of under `rare_audience_share` of the readers who
    got lists; otherwise other books simply ranked higher.
    """
    table = never_suggested(result.exposure, popularity, catalog)
    readers = table["training_readers"].to_numpy()
    audience_share = result.per_reader["audience"].astype(str).value_counts(normalize=True)
    if C.AUDIENCE in table.columns:
        share = table[C.AUDIENCE].map(audience_share).astype(float)
        rare = (table[C.AUDIENCE].notna() & (share.fillna(0.0) < rare_audience_share)).to_numpy()
    else:
        rare = np.zeros(len(table), dtype=bool)
    table["reason"] = np.select(
        [readers == 0, readers < min_pair_support, rare],
        [NEVER_BORROWED, TOO_FEW_READERS, RARE_AUDIENCE],
        default=OUTRANKED,
    )
    return table


def reason_counts(reasons: pd.DataFrame) -> pd.DataFrame:
    """Books never suggested per reason (all reasons listed, in a fixed order)."""
    counts = reasons["reason"].value_counts().reindex(list(REASONS), fill_value=0)
    total = counts.sum()
    return pd.DataFrame(
        {"books": counts, "share (%)": 100.0 * counts / total if total else counts * 0.0}
    ).rename_axis("reason")


def segment_quality(
    comparison: ComparisonResult,
    *,
    by: str = "activity",
    metric: str = "ndcg",
    min_readers: int = 1,
    top: int | None = 12,
) -> pd.DataFrame:
    """Segment values x models for one metric, with the number of readers in each value.

    Activity keeps its order (light, medium, heavy); other segments show the `top` values with
    the most readers. Values with fewer than `min_readers` readers are left out (too noisy).
    """
    first = next(iter(comparison.results.values()))
    readers = segment_table(first, by=by, metrics=[metric])["readers"]
    table = segment_comparison(comparison, by=by, metric=metric)
    table.insert(0, "readers", readers.reindex(table.index).astype(int))
    table = table.loc[table["readers"] >= min_readers]
    if by != "activity":
        table = table.sort_values("readers", ascending=False, kind="stable")
        if top is not None:
            table = table.head(top)
    return table.rename_axis(by)


def weakest_segments(
    comparison: ComparisonResult,
    *,
    model: str,
    metric: str = "ndcg",
    segments: tuple[str, ...] = SEGMENTS,
    min_readers: int = 10,
    n: int = 10,
) -> pd.DataFrame:
    """The `n` groups of readers where `model` scores lowest, beside the best baseline there."""
    if model not in comparison.results:
        raise ValueError(f"model must be one of {sorted(comparison.results)}; got {model!r}")
    rows = []
    for by in segments:
        table = segment_quality(comparison, by=by, metric=metric, min_readers=min_readers, top=None)
        others = [c for c in table.columns if c not in ("readers", model)]
        for value, row in table.iterrows():
            best = float(row[others].max()) if others else np.nan
            rows.append(
                {
                    "segment": by,
                    "group": str(value),
                    "readers": int(row["readers"]),
                    model: float(row[model]),
                    "best baseline": best,
                    "difference": float(row[model]) - best,
                }
            )
    frame = pd.DataFrame(
        rows, columns=["segment", "group", "readers", model, "best baseline", "difference"]
    )
    return frame.sort_values(model, kind="stable").head(n).reset_index(drop=True)
