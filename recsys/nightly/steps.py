"""The nightly steps, each a function of ``(settings, RunContext)`` returning what it found.

Steps share a `RunContext` (engine, run id, progress, and data loaded by an earlier step), so the
whole nightly loads the store once, while each step can also run alone from the CLI.

Evaluation compares, on one temporal holdout of the stored data (the newest 10% of loans):

- ``candidate``: tonight's model parameters, fitted on the training part;
- ``published_refit``: the published model's parameters, fitted on the same training part. The
  published model itself was trained on data that include most of the test period (it treats
  those loans as already borrowed), so only the refit is a fair comparison; the gate uses it;
- ``als_default`` (plain implicit ALS) and ``popularity``: baselines a model should beat.

The candidate and the published model's refit are also scored on catalog pages
(`recsys.evaluation.book_pages`): each test reader looks at the page of their last loan before
the holdout, and the page's list (as the list pipeline makes it) is scored against the books
they borrowed next (``page_ndcg@10``). The gate watches both figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import detach_unconsented_sessions, load_training_dataset
from recsys.consortium import MANIFEST_KEY as CONSORTIUM
from recsys.consortium import consortium_record, pooled_dataset
from recsys.data.dataset import Dataset
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.data.validation import utc_day
from recsys.db import queries
from recsys.db import works as stored_works
from recsys.engines import SPARK
from recsys.erasure import latest_erasure
from recsys.evaluation.splits import Split, sample_test_readers, temporal_split
from recsys.exceptions import RecsysError
from recsys.models.base import Recommender
from recsys.nightly import gate as gate_module
from recsys.nightly import inbox
from recsys.nightly import validate as validate_module
from recsys.nightly.progress import Progress
from recsys.nightly.report import write_report

if TYPE_CHECKING:  # the evaluation imports implicit: only the steps that train load it
    from recsys.engines.spark.holdout import SparkHoldout
    from recsys.evaluation.book_pages import PageLists, PageViews
    from recsys.evaluation.evaluate import ReaderLists
    from recsys.models.als import StartingFactors

K = 10
TEST_SHARE = 0.1
GATE_READERS = 20
MAX_TEST_READERS = 10_000
#: Manifest key of the recipe a run started from (see `published_recipe`).
RECIPE = "recipe"


class IngestRejectedError(RecsysError):
    """At least one export was rejected and set aside; the run stops before training."""


class ErasedWhileTrainingError(RecsysError):
    """A reader was erased after the run read its data: the run was discarded."""


@dataclass(frozen=True)
class HoldoutLists:
    """Every compared model's lists for the holdout's test readers, made by `train`."""

    lists: dict[str, ReaderLists]
    #: the report's notes on how the models were fitted
    notes: list[str]
    published_run_id: str | None
    #: the published model's recipe is tonight's, so its refit is the candidate's
    same_recipe: bool
    #: the book page each test reader looks at (their last loan) and the served models' lists
    #: (None and empty for the Spark engine, whose holdout is not a pandas split)
    views: PageViews | None = None
    pages: dict[str, PageLists] = field(default_factory=dict)


@dataclass
class RunContext:
    """What the steps of one run share."""

    run_id: str
    engine: Engine
    progress: Progress = field(default_factory=lambda: Progress("none"))
    dataset: Dataset | None = None
    holdout: Split | None = None
    holdout_lists: HoldoutLists | None = None
    #: what this run's ingest step stored (None when the step did not run)
    ingested: inbox.InboxReport | None = None
    model: Recommender | None = None
    #: the store's latest erasure when `dataset` was read (read before it)
    erasures_seen: int = 0
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    #: the Spark engine's holdout (it never loads a pandas Dataset of the loans)
    spark_holdout: SparkHoldout | None = None
    #: catalog and holdings the model was trained with, when no Dataset was loaded
    snapshots: tuple[pd.DataFrame, pd.DataFrame] | None = None
    #: every reader's and book's list of `model`, for the bundle (made by the lists step)
    lists: dict[str, np.ndarray] | None = None

    @property
    def line(self) -> Any:
        return self.progress.line

    def run_dir(self, settings: Settings) -> Path:
        return artifacts.run_path(Path(settings.models_dir), self.run_id)


def ingest(settings: Settings, ctx: RunContext) -> inbox.InboxReport:
    """Ingest new inbox exports; raise `IngestRejectedError` after the rest if one was rejected."""
    inbox.ensure_layout(settings)
    report = inbox.ingest_inbox(ctx.engine, settings, progress=ctx.progress)
    ctx.ingested = report
    if not report.files:
        ctx.line(f"ingest: no new exports in {settings.inbox_dir}/{{{','.join(inbox.KINDS)}}}")
    if stored_works.ungrouped_records(ctx.engine):  # a catalog stored before works were derived
        with ctx.engine.begin() as connection:
            changed = stored_works.regroup(connection)
        ctx.line(f"ingest: works derived for the stored catalog ({changed} records)")
    if report.rejected:
        names = "; ".join(f"{f.label} ({f.error}) moved to {f.moved_to}" for f in report.rejected)
        raise IngestRejectedError(
            f"{len(report.rejected)} export(s) rejected and set aside: {names}. The other files "
            "were stored; nothing was trained or published. Fix the export and drop it into the "
            "inbox again"
        )
    return report


def validate(settings: Settings, ctx: RunContext) -> validate_module.ValidationReport:
    """Apply retention and check the data window; raise when a check fails."""
    report = validate_module.validate_store(ctx.engine, settings)
    deleted = sum(report.deleted.values())
    ctx.line(
        f"validate: retention applied ({deleted} events older than "
        f"{settings.retention_days} days deleted)"
    )
    purged = inbox.purge_raw_exports(settings)
    ctx.line(
        f"validate: {purged} export files older than {settings.raw_export_days} days "
        "deleted (they hold raw card numbers)"
    )
    detached = detach_unconsented_sessions(ctx.engine, settings)
    ctx.line(f"validate: {detached} views of readers without consent made anonymous")
    overlong = sum(report.overlong_ids.values())
    if overlong:
        ctx.line(
            f"validate: {overlong} stored rows have an id longer than {MAX_ID_LENGTH} characters "
            f"and are left out of training ({_counts(report.overlong_ids)})"
        )
    ctx.line(
        f"validate: {report.loans} loan events stored; newest 24 h "
        f"{report.newest_period_loans} (same time in earlier weeks: median "
        f"{report.reference_median}, expected {report.expected_loans})"
    )
    if not report.ok:
        problems = report.problems
        if ctx.ingested is not None and ctx.ingested.rows_past_retention:
            problems = [
                *problems,
                f"tonight's exports held {ctx.ingested.rows_past_retention} loans and views older "
                f"than the retention window, which were not stored (the newest of them from "
                f"{utc_day(ctx.ingested.newest_past_retention)})",
            ]
        raise validate_module.DataValidationError(
            "the stored data fail the nightly checks, so no model was trained: "
            + "; ".join(problems)
        )
    return report


def _counts(per_table: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in per_table.items() if n)


def load_data(settings: Settings, ctx: RunContext) -> Dataset:
    if ctx.dataset is None:
        ctx.line("train: loading the stored data")
        # read first: an erasure after it may or may not be in the data (see `save`)
        ctx.erasures_seen = latest_erasure(ctx.engine)
        # Only readers who may contribute (consent mode), and only the loans of the libraries
        # that pool their readers' histories, train personal models.
        ctx.dataset = pooled_dataset(
            load_training_dataset(ctx.engine, settings), settings.pooled_libraries
        )
        ctx.line(f"train: loaded {len(ctx.dataset.interactions)} interactions")
    return ctx.dataset


def holdout(settings: Settings, ctx: RunContext) -> Split:
    """The temporal holdout the run evaluates on (made once per run)."""
    if ctx.holdout is None:
        # scoring every reader of a big library costs minutes per model and moves the metrics by
        # less than their noise (measured in benchmarks/bench_training.py)
        ctx.holdout = sample_test_readers(
            temporal_split(load_data(settings, ctx), test_share=TEST_SHARE),
            max_readers=MAX_TEST_READERS,
            seed=settings.seed,
        )
    return ctx.holdout


def train(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Fit tonight's candidate and the models it is compared with on the holdout's training
    part, then refit the candidate on all stored data.

    The model's own choices (the optional search's parameters, the hybrid's blend) are made once,
    on the holdout's training part (their validation is carved from it), and every model fitted
    there lists the test readers for `evaluate` right away. The published model refits exactly
    the candidate's choices on all the data: what the evaluation measured is what is published,
    nothing is tuned twice, and only one big model is in memory at a time. An ALS model's refit
    goes on from the candidate's factors (fitted on all but the newest loans), with a third of
    the iterations.
    """
    from recsys.models import registry
    from recsys.models.als import WarmStartable

    if settings.engine == SPARK:
        from recsys.engines.spark import nightly

        return nightly.train(settings, ctx)
    dataset = load_data(settings, ctx)
    split = holdout(settings, ctx)
    recipe = registry.default_model(settings)
    if settings.search_enabled:
        recipe = _search(settings, ctx, split.train, recipe)
    ctx.holdout_lists, params, start = _holdout_lists(settings, ctx, split, recipe)
    model = registry.build_model(recipe.name, **params)
    warm = False
    if isinstance(model, WarmStartable) and start is not None:
        model.start_next_fit_from(start)
        warm = True
    ctx.line(
        f"train: fitting {model.name} on {len(dataset.interactions)} interactions"
        + (" (its ALS goes on from the candidate's factors)" if warm else "")
    )
    started = time.perf_counter()
    model.fit(dataset)
    ctx.line(f"train: fitted {model.name} in {time.perf_counter() - started:.1f}s")
    ctx.model = model
    times = dataset.interactions[C.TIMESTAMP]
    counts = {
        "model": model.name,
        "params": jsonable(model.get_params()),
        "interactions": len(dataset.interactions),
        "readers": len(dataset.id_codes.reader_ids),
        "books": len(dataset.id_codes.book_ids),
        "first_event": _iso(times.min()) if len(times) else None,
        "last_event": _iso(times.max()) if len(times) else None,
    }
    ctx.manifest_extra["data"] = {k: v for k, v in counts.items() if k not in ("model", "params")}
    ctx.manifest_extra[RECIPE] = {
        "name": recipe.name,
        "params": jsonable(recipe.get_params()),
        "refit_als_from_candidate": warm,
    }
    return counts


def _holdout_lists(
    settings: Settings, ctx: RunContext, split: Split, recipe: Recommender
) -> tuple[HoldoutLists, dict[str, Any], StartingFactors | None]:
    """The lists of the candidate, the published model's refit and the baselines, each model
    fitted on ``split.train`` and dropped before the next; the candidate's fitted params, and
    its ALS factors if it has any."""
    from recsys.evaluation.book_pages import page_views
    from recsys.evaluation.evaluate import baseline_models, reader_lists
    from recsys.models import registry
    from recsys.models.als import WarmStartable

    progress = lambda m: ctx.line(f"train: {m}")  # noqa: E731
    views = page_views(split)
    candidate = registry.build_model(recipe.name, **recipe.get_params())
    lists = {
        "candidate": reader_lists(
            candidate, split, k=K, progress=progress, name="candidate", similar_books=True
        )
    }
    pages = {"candidate": _page_lists(settings, candidate, split, views)}
    params = candidate.fitted_params()
    start = candidate.starting_factors() if isinstance(candidate, WarmStartable) else None
    del candidate
    notes = [
        "All models are fitted on the same training part and scored on the same held-out "
        f"newest {TEST_SHARE:.0%} of loans (readers' first loans of a book only; at most "
        f"{MAX_TEST_READERS} test readers, a seeded sample).",
        f"page_ndcg@{K} scores catalog pages: each test reader looks at the page of their last "
        "loan before the holdout, whose list (as the service makes it, for no one in "
        "particular) is scored against what they borrowed next. Only the served models have "
        "pages.",
    ]
    published_id, same_recipe, published = published_recipe(settings, ctx, notes, recipe=recipe)
    others = baseline_models(seed=settings.seed)
    if published is not None:
        others = {"published_refit": published, **others}
    for name in list(others):
        model = others.pop(name)
        served = name == gate_module.REFERENCE_ENTRY  # the baselines are never served
        lists[name] = reader_lists(
            model, split, k=K, progress=progress, name=name, similar_books=served
        )
        if served:
            pages[name] = _page_lists(settings, model, split, views)
        del model
    made = HoldoutLists(lists, notes, published_id, same_recipe, views, pages)
    return made, params, start


def _page_lists(
    settings: Settings, model: Recommender, split: Split, views: PageViews
) -> PageLists:
    """The catalog pages' lists of a fully fitted servable model, as the pipeline makes them."""
    from recsys.evaluation.book_pages import served_lists

    return served_lists(model, split.train, views, k=K, min_readers=settings.min_pair_support)


def _search(
    settings: Settings, ctx: RunContext, train_part: Dataset, model: Recommender
) -> Recommender:
    """Search on the evaluation's training part only, so the holdout stays unseen."""
    from recsys.models import registry, search

    ctx.line(f"train: searching parameters for {settings.search_budget_seconds:g}s")
    result = search.search(
        model.name,
        train_part,
        base_params=model.get_params(),
        budget_seconds=settings.search_budget_seconds,
        seed=settings.seed,
    )
    ctx.line(
        f"train: search tried {len(result.table)} settings; best {result.metric} "
        f"{result.best_score:.4f}"
    )
    ctx.manifest_extra["search"] = {
        "metric": result.metric,
        "best_score": result.best_score,
        "tried": len(result.table),
    }
    return registry.build_model(model.name, **result.best_params)


def evaluate(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Score the lists `train` made for the holdout (candidate, published model's refit,
    baselines); write the files."""
    from recsys.evaluation.book_pages import PAGE, scored_lists
    from recsys.evaluation.evaluate import compare_models

    made = ctx.holdout_lists
    if made is None:
        raise RecsysError("evaluate needs a trained model: run the train step first")
    if settings.engine == SPARK:
        from recsys.engines.spark import nightly

        return nightly.evaluate(settings, ctx)
    split = holdout(settings, ctx)
    described = split.describe()
    ctx.line(
        f"evaluate: holdout of {described['test_pairs']} loans by "
        f"{described['test_readers']} readers from {described['test_start']}"
    )
    comparison = compare_models(
        {}, split, k=K, progress=lambda m: ctx.line(f"evaluate: {m}"), lists=made.lists
    )
    entries: dict[str, dict[str, Any]] = {
        name: {
            "metrics": result.summary,
            "params": comparison.params.get(name, {}),
            "fit_seconds": comparison.fit_seconds.get(name),
        }
        for name, result in comparison.results.items()
    }
    per_reader = scored_lists(split, made.views, made.pages, k=K) if made.views is not None else {}
    for name in made.pages:
        figures = per_reader.get((name, PAGE))
        page = float(figures.mean()) if figures is not None and len(figures) else float("nan")
        entries[name]["metrics"] = {**entries[name]["metrics"], gate_module.PAGE_METRIC: page}
    return write_metrics(settings, ctx, described, entries)


def write_metrics(
    settings: Settings,
    ctx: RunContext,
    described: dict[str, Any],
    entries: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Write `metrics.json` and `report.md` of the models' `entries` on the holdout the
    counts `described` describe; returns the metrics."""
    made = ctx.holdout_lists
    if made is None:
        raise RecsysError("evaluate needs a trained model: run the train step first")
    if made.same_recipe:
        entries["published_refit"] = dict(entries["candidate"])
    metrics = {
        "run_id": ctx.run_id,
        "metric": settings.gate_metric,
        "k": K,
        "split": described,
        "published_run_id": made.published_run_id,
        "models": jsonable(entries),
        "notes": made.notes,
    }
    run_dir = ctx.run_dir(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / gate_module.METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    write_report(run_dir / "report.md", metrics)
    ctx.line(f"evaluate: wrote {gate_module.METRICS_FILE} and report.md")
    ctx.manifest_extra["evaluation"] = {"split": described, "metric": settings.gate_metric}
    return metrics


def published_recipe(
    settings: Settings, ctx: RunContext, notes: list[str], *, recipe: Recommender
) -> tuple[str | None, bool, Recommender | None]:
    """The published model's recipe, unfitted, when it differs from tonight's `recipe`.

    A recipe is what a run starts from (the configured or searched parameters, before the
    model's own choices such as the hybrid's blend), so two nights with the same settings
    have the same recipe. Returns the published run id, whether its recipe equals tonight's,
    and the model to refit on the holdout (None when equal or not rebuildable).
    """
    from recsys.models import registry

    models_dir = Path(settings.models_dir)
    current = artifacts.current_run_id(models_dir)
    if current is None:
        ctx.line("train: no published model yet")
        return None, False, None
    path = artifacts.run_path(models_dir, current)
    try:
        artifacts.verify_bundle(path)
    except RecsysError as error:  # the service keeps its loaded copy; the operator must know
        ctx.line(f"train: the published model (run {current}) cannot be loaded: {error}")
    try:
        manifest = json.loads((path / artifacts.MANIFEST).read_text())
        spec = manifest.get(RECIPE) or manifest["model"]
        name, params = spec["name"], spec["params"]
        if name == recipe.name and jsonable(params) == jsonable(recipe.get_params()):
            notes.append(
                f"The published model (run {current}) has the candidate's recipe, "
                "so its refit on the training part is the candidate's."
            )
            return current, True, None
        published = registry.build_model(name, **params)
    except (OSError, ValueError, KeyError, TypeError) as error:
        notes.append(
            f"The published model's parameters (run {current}) cannot be rebuilt by "
            f"this version ({type(error).__name__}), so there is no fair comparison."
        )
        return current, False, None
    notes.append(
        f"published_refit is the published model's parameters refitted on the training part "
        f"(the gate's reference): the published model itself (run {current}) was trained on "
        "data that include most of the test period, so scoring it as served would not be fair."
    )
    return current, False, published


def lists(settings: Settings, ctx: RunContext) -> None:
    """Compute every known reader's and every catalog book's list of the trained model (on
    every core), for the bundle: the service then serves them from the moment it loads it."""
    from recsys.lists.served import served_lists

    if ctx.model is None:
        raise RecsysError("the lists step needs a trained model: run the train step first")
    dataset = load_data(settings, ctx)
    readers = len(ctx.model.known_readers())
    ctx.line(f"lists: computing the lists of {readers} readers and {len(dataset.catalog)} books")
    tracker = ctx.progress.rows("lists: readers' lists computed")
    try:
        ctx.lists = served_lists(ctx.model, dataset.catalog, dataset.holdings, progress=tracker)
    finally:
        tracker.close()
    ctx.line("lists: done")


def save(settings: Settings, ctx: RunContext) -> Path:
    """Write the bundle (manifest last) into the run directory, with the lists step's lists.

    A reader erased while the model trained may be in it, and no erasure can purge a run that was
    not saved yet: such a run's model files and lists are deleted at once and the step fails.
    """
    if ctx.model is None:
        raise RecsysError("save needs a trained model: run the train step first")
    if ctx.snapshots is not None:
        catalog, holdings = ctx.snapshots
    else:
        dataset = load_data(settings, ctx)
        catalog, holdings = dataset.catalog, dataset.holdings
    if settings.consortium:
        ctx.manifest_extra[CONSORTIUM] = consortium_record(holdings, settings)
    ctx.line(f"save: writing bundle {ctx.run_id}")
    path = artifacts.save_bundle(
        Path(settings.models_dir),
        ctx.run_id,
        ctx.model,
        catalog=catalog,
        holdings=holdings,
        erasures_applied=ctx.erasures_seen,
        manifest_extra=ctx.manifest_extra,
        lists=ctx.lists,
    )
    if latest_erasure(ctx.engine) > ctx.erasures_seen:
        artifacts.discard_model(path)
        raise ErasedWhileTrainingError(
            f"a reader was erased while run {ctx.run_id} trained, so its model may hold them: "
            "its model files were deleted and nothing was published. The next nightly trains "
            "without the reader"
        )
    ctx.line(f"save: bundle {ctx.run_id} written")
    return path


def render(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Render every listed reader's default list of the saved run (on every core) into the
    files every worker of the service replays (`recsys.lists.ahead`), so the lists are there
    the moment the run is published, whatever the service's load.

    A failure here is reported and leaves no folder; the run is still gated and published, and
    the service renders the lists in its lulls as it would without them: the files only make
    answers faster, never different.
    """
    from recsys.consent import ConsentRule
    from recsys.curation.source import CurationSource
    from recsys.lists.ahead import render_ahead
    from recsys.lists.served import build_served

    started = time.perf_counter()
    try:
        bundle = artifacts.load_bundle(
            ctx.run_dir(settings), latest_erasure=latest_erasure(ctx.engine)
        )
        served = build_served(bundle, ctx.engine, min_readers=settings.min_pair_support)
        if not served.readers.complete:
            ctx.line("render: skipped (the bundle carries no readers' lists to render from)")
            return {"rendered": 0, "skipped": "no readers' lists in the bundle"}
        curation = CurationSource(ctx.engine)
        curation.refresh()
        ctx.line(f"render: rendering the default lists of {len(served.readers)} readers")
        tracker = ctx.progress.rows("render: lists rendered")
        try:
            placed = render_ahead(
                served,
                curation.current(served),
                ctx.engine,
                ConsentRule.of(settings),
                progress=tracker,
            )
        finally:
            tracker.close()
    except Exception as error:  # the type only: an error's text may hold a pseudonym
        ctx.line(
            f"render: failed ({type(error).__name__}); nothing was placed, and the service "
            "renders the lists itself between requests"
        )
        return {"rendered": 0, "error": type(error).__name__}
    ctx.line(
        f"render: {placed.listed if placed else 0} readers' lists placed in "
        f"{time.perf_counter() - started:.1f}s"
    )
    return {"rendered": placed.listed if placed else 0}


def gate(settings: Settings, ctx: RunContext) -> gate_module.GateDecision:
    """Decide whether run ``ctx.run_id`` may replace the published model."""
    ctx.line(f"gate: checking run {ctx.run_id}")
    decision = gate_module.decide(
        settings,
        ctx.run_id,
        readers=recent_readers(ctx.engine),
        latest_erasure=latest_erasure(ctx.engine),
    )
    ctx.line(f"gate: {'passed' if decision.passed else 'refused'} ({decision.reason})")
    return decision


def recent_readers(engine: Engine, *, n: int = GATE_READERS) -> list[str]:
    """A few readers with the newest loans, for the gate to ask the candidate model about."""
    return queries.recent_readers(engine, limit=n)


def publish(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Point ``CURRENT`` at the run (old one kept as ``PREVIOUS``), then prune old runs."""
    models_dir = Path(settings.models_dir)
    ctx.line(f"publish: switching CURRENT to {ctx.run_id}")
    artifacts.publish(models_dir, ctx.run_id, latest_erasure=latest_erasure(ctx.engine))
    ctx.line(f"publish: CURRENT is {ctx.run_id}")
    removed = artifacts.prune_runs(models_dir, keep=settings.keep_runs)
    ctx.line(f"publish: removed {len(removed)} old run(s), keeping {settings.keep_runs}")
    return {
        "current": ctx.run_id,
        "previous": artifacts.previous_run_id(models_dir),
        "pruned": removed,
    }


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()
