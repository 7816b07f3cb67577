"""Two runs side by side: their measured quality, how much their lists overlap, books gained/lost.

Three views, each answering a different question:

- ``recorded``: what each run's own nightly evaluation measured when it was trained (each on the
  holdout of its night, so the two were not measured on the same loans);
- ``same_holdout``: both runs' recipes refitted on today's older loans and scored on today's
  newest 10 %, the fair comparison of the two recipes (identical when the parameters are);
- lists as served: the two bundles' suggestions for the same readers, as the catalog shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import artifacts
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.erasure import latest_erasure
from recsys.evaluation.evaluate import compare_models, recommend_in_batches
from recsys.evaluation.report import books_gained_lost, compare_runs, list_overlap, load_metrics
from recsys.evaluation.review import TEST_SHARE, load_run, load_training_data
from recsys.evaluation.splits import temporal_split
from recsys.exceptions import ModelNotFoundError, RecsysError
from recsys.models import registry
from recsys.models.base import check_k

NAMES = ("run A", "run B")
SHOWN = (
    "hit_rate",
    "precision",
    "recall",
    "ndcg",
    "coverage",
    "popular_share",
    "gini",
    "novelty",
    "diversity",
)
NIGHTLY_K = 10
NIGHTLY_MODEL = "candidate"


@dataclass(frozen=True)
class RunComparison:
    """Runs A and B compared; no attribute holds a reader id.

    Attributes
    ----------
    runs
        One row per run: run id, model, when trained, whether it is in service.
    note
        How A and B were chosen, in words.
    recorded
        The runs' own nightly metrics (at K = 10) compared, or None when a run has none.
    same_holdout
        Both recipes refitted and scored on today's holdout, compared at `k`.
    overlap
        Per sampled reader (no ids): share of the two lists that is the same (0 to 1).
    gained_lost
        Per book suggested by either run: lists it is in under A and B and the change.
    """

    k: int
    runs: pd.DataFrame
    note: str
    recorded: pd.DataFrame | None
    same_holdout: pd.DataFrame
    overlap: pd.Series
    gained_lost: pd.DataFrame

    def overlap_summary(self) -> pd.Series:
        """Mean overlap and the shares of readers whose lists are identical or share nothing."""
        values = self.overlap.to_numpy(dtype=float)
        return pd.Series(
            {
                "readers compared": len(values),
                "average share of the list kept (%)": 100.0 * values.mean()
                if len(values)
                else np.nan,
                "readers with the same list (%)": 100.0 * (values == 1).mean()
                if len(values)
                else np.nan,
                "readers with no book in common (%)": (
                    100.0 * (values == 0).mean() if len(values) else np.nan
                ),
            },
            name="value",
            dtype=float,
        )


def resolve_runs(models_dir: Path, run_a: str | None, run_b: str | None) -> tuple[str, str, str]:
    """Run ids A and B and a note: B defaults to the published run, A to the one before it.

    A defaults to ``PREVIOUS`` or else the newest other complete run; with a single complete run,
    A is B (the note says so, and every difference is zero).
    """
    models_dir = Path(models_dir)
    b = run_b or artifacts.current_run_id(models_dir)
    if b is None:
        raise ModelNotFoundError(
            f"no published model in {models_dir}: pass run_b, or run `recsys nightly` first"
        )
    if run_a is not None:
        return run_a, b, "Runs A and B as chosen."
    previous = artifacts.previous_run_id(models_dir)
    if previous is not None and previous != b and _complete(models_dir, previous):
        return previous, b, "Run A is the model that was in service before run B."
    others = [
        r for r in reversed(artifacts.list_runs(models_dir)) if r != b and _complete(models_dir, r)
    ]
    if others:
        return (
            others[0],
            b,
            "Run A is the newest other complete run (none was in service before B).",
        )
    return (
        b,
        b,
        (
            "Only one complete run exists, so runs A and B are the same model and every "
            "difference below is zero. Compare again after the next nightly run."
        ),
    )


def _complete(models_dir: Path, run_id: str) -> bool:
    return (artifacts.run_path(models_dir, run_id) / artifacts.MANIFEST).is_file()


def compare_two_runs(
    settings: Settings,
    run_a: str | None = None,
    run_b: str | None = None,
    *,
    k: int = 10,
    n_readers: int = 500,
    seed: int | None = None,
) -> RunComparison:
    """Compare runs A and B (see `resolve_runs` for the defaults) on today's stored data.

    `n_readers` readers of the holdout period (a reproducible sample by `seed`, default the
    settings' seed) get lists from both bundles for the overlap and the books gained and lost.
    """
    k = check_k(k)
    if n_readers < 1:
        raise ValueError(f"n_readers must be a positive integer; got {n_readers}")
    models_dir = Path(settings.models_dir)
    a_id, b_id, note = resolve_runs(models_dir, run_a, run_b)
    engine = make_engine(settings)
    try:
        erased = latest_erasure(engine)
        bundles = (
            load_run(models_dir, a_id, latest_erasure=erased),
            load_run(models_dir, b_id, latest_erasure=erased),
        )
        dataset = load_training_data(engine, settings)
    finally:
        engine.dispose()
    try:
        split = temporal_split(dataset, test_share=TEST_SHARE)
    except ValueError as error:
        raise RecsysError(f"the stored data cannot be split for review: {error}") from None
    seed = settings.seed if seed is None else seed
    summaries = _refit_summaries(bundles, split, k=k, seed=seed)
    readers = sorted(map(str, split.test_readers))
    rng = np.random.default_rng(seed)
    readers = [
        readers[i]
        for i in sorted(rng.choice(len(readers), min(n_readers, len(readers)), replace=False))
    ]
    lists = [recommend_in_batches(bundle.model, readers, k=k) for bundle in bundles]
    gained = books_gained_lost(lists[0], lists[1], catalog=dataset.catalog).rename(
        columns={"lists_a": "lists with run A", "lists_b": "lists with run B"}
    )
    recorded = [_recorded(bundle.path) for bundle in bundles]
    return RunComparison(
        k=k,
        runs=_describe(models_dir, bundles),
        note=note,
        recorded=(
            None
            if recorded[0] is None or recorded[1] is None
            else _shown(compare_runs(recorded[0], recorded[1], names=NAMES), NIGHTLY_K)
        ),
        same_holdout=_shown(compare_runs(summaries[0], summaries[1], names=NAMES), k),
        overlap=list_overlap(lists[0], lists[1]).reset_index(drop=True),
        gained_lost=gained,
    )


def _refit_summaries(
    bundles: tuple[artifacts.Bundle, artifacts.Bundle], split: Any, *, k: int, seed: int
) -> list[dict[str, float]]:
    """Each bundle's recipe fitted on the split's training part; one fit when recipes match."""
    specs = [bundle.manifest["model"] for bundle in bundles]
    summaries: list[dict[str, float]] = []
    for index, spec in enumerate(specs):
        if index == 1 and spec == specs[0]:
            summaries.append(summaries[0])
            continue
        recipe = registry.build_model(spec["name"], **spec.get("params", {}))
        comparison = compare_models(
            {NAMES[index]: recipe},
            split,
            k=k,
            seed=seed,
            include_baselines=False,
            catalog=split.train.catalog,
        )
        summaries.append(comparison.results[NAMES[index]].summary)
    return summaries


def _recorded(path: Path) -> dict[str, float] | None:
    """The run's own nightly metrics of its model, if its metrics.json has them."""
    try:
        document = load_metrics(path)
        return dict(document["models"][NIGHTLY_MODEL]["metrics"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _shown(table: pd.DataFrame, k: int) -> pd.DataFrame:
    keys = [f"{name}@{k}" for name in SHOWN if f"{name}@{k}" in table.index]
    return table.loc[keys]


def _describe(models_dir: Path, bundles: tuple[artifacts.Bundle, artifacts.Bundle]) -> pd.DataFrame:
    current = artifacts.current_run_id(models_dir)
    previous = artifacts.previous_run_id(models_dir)
    rows = {}
    for name, bundle in zip(NAMES, bundles, strict=True):
        data = bundle.manifest.get("data", {})
        state = (
            "in service"
            if bundle.run_id == current
            else "in service before (rollback target)"
            if bundle.run_id == previous
            else "not in service"
        )
        rows[name] = {
            "run id": bundle.run_id,
            "model": bundle.manifest["model"]["name"],
            "trained at (UTC)": bundle.manifest.get("created_at", "unknown"),
            "trained on interactions": data.get("interactions", "unknown"),
            "newest loan it saw": data.get("last_event", "unknown"),
            "status": state,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
