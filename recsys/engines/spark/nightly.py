"""The nightly's train and evaluate steps with the Spark engine (``RECSYS_ENGINE=spark``).

The same steps as `recsys.nightly.steps` with the implicit engine, without ever holding the
loans in one Python process: Spark reads the store (`frames.read_store`), splits off the
holdout (`holdout.temporal_holdout`), fits the candidate on the training part and lists the
sampled test readers with it, refits the published model's recipe when it is a Spark model and
differs, then fits the candidate's recipe on all the data. Evaluation scores those lists as the
implicit engine's does (ranking metrics by work and by record, catalog coverage at k; the
beyond-accuracy figures need the training loans in pandas and are left out). The bundle, the
gate and publishing are the same as for every engine.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.works import work_map
from recsys.db.queries import load_catalog, load_holdings
from recsys.engines.spark.holdout import WORK_KEY, temporal_holdout
from recsys.engines.spark.model import SparkALSRecommender
from recsys.engines.spark.session import spark_session, work_dir
from recsys.erasure import latest_erasure
from recsys.evaluation import metrics as M
from recsys.exceptions import RecsysError
from recsys.nightly import steps
from recsys.nightly.steps import MAX_TEST_READERS, RECIPE, TEST_SHARE, K, RunContext

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from recsys.evaluation.evaluate import ReaderLists


def recipe(settings: Settings) -> SparkALSRecommender:
    """The model the Spark engine trains, with the privacy, recency and pooling settings."""
    pooled = settings.pooled_libraries
    return SparkALSRecommender(
        min_pair_support=settings.min_pair_support,
        half_life_days=settings.half_life_days,
        pool_libraries=list(pooled) if pooled is not None else None,
        random_state=settings.seed,
    )


def train(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Fit the candidate on the holdout's training part (listing the test readers), the
    published recipe's refit if it differs, then the candidate's recipe on all the data."""
    spark = spark_session(settings)
    ctx.line(f"train: Spark {spark.version} at {spark.sparkContext.master}")
    # read first: an erasure after it may or may not be in the data (`steps.save` checks)
    ctx.erasures_seen = latest_erasure(ctx.engine)
    catalog, holdings = load_catalog(ctx.engine), load_holdings(ctx.engine)
    ctx.snapshots = (catalog, holdings)
    snapshot = work_dir(spark) / f"snapshot-{ctx.run_id}"
    try:
        from recsys.engines.spark.frames import read_store

        interactions = read_store(spark, settings, ctx.engine, snapshot / "interactions")
        work_keys = work_key_frame(spark, catalog, snapshot / "work_keys")
        return _train(settings, ctx, spark, interactions, catalog, work_keys)
    finally:  # the snapshot holds readers' histories: it never outlives the run
        shutil.rmtree(snapshot, ignore_errors=True)


def _train(
    settings: Settings,
    ctx: RunContext,
    spark: SparkSession,
    interactions: DataFrame,
    catalog: pd.DataFrame,
    work_keys: DataFrame,
) -> dict[str, Any]:
    from pyspark import StorageLevel

    interactions = interactions.persist(StorageLevel.MEMORY_AND_DISK)
    ctx.line("train: splitting off the holdout (newest loans)")
    holdout = temporal_holdout(
        interactions,
        work_keys,
        test_share=TEST_SHARE,
        max_readers=MAX_TEST_READERS,
        seed=settings.seed,
    )
    ctx.spark_holdout = holdout
    model = recipe(settings)
    lists = {"candidate": reader_lists(model, spark, holdout.train, catalog, holdout.test_readers)}
    ctx.line(f"train: candidate fitted in {lists['candidate'].fit_seconds:.1f}s")
    notes = [
        "All models are fitted by Spark on the same training part and scored on the same "
        f"held-out newest {TEST_SHARE:.0%} of loans (readers' first loans of a book only; at "
        f"most {MAX_TEST_READERS} test readers, a seeded sample).",
    ]
    published_id, same_recipe, published = steps.published_recipe(
        settings, ctx, notes, recipe=model
    )
    if isinstance(published, SparkALSRecommender):
        lists["published_refit"] = reader_lists(
            published, spark, holdout.train, catalog, holdout.test_readers
        )
    elif published is not None:
        notes.append(
            f"The published model ({published.name}) was not trained by Spark; refitting it "
            "would need every loan in one process, so there is no fair comparison and the gate "
            "checks the candidate alone."
        )
    ctx.holdout_lists = steps.HoldoutLists(lists, notes, published_id, same_recipe)
    ctx.line("train: fitting the candidate's recipe on all the data")
    started = time.perf_counter()
    fitted = recipe(settings).fit_frames(spark, interactions, catalog)
    ctx.line(f"train: fitted {fitted.name} in {time.perf_counter() - started:.1f}s")
    ctx.model = fitted
    counts = {
        "interactions": int(interactions.count()),
        "readers": len(fitted.known_readers()),
        "books": len(fitted.books_),
        "first_event": _iso(interactions, "min"),
        "last_event": _iso(interactions, "max"),
    }
    interactions.unpersist()
    ctx.manifest_extra["data"] = counts
    ctx.manifest_extra["engine"] = {"name": "spark", "version": spark.version}
    ctx.manifest_extra[RECIPE] = {
        "name": model.name,
        "params": steps.jsonable(model.get_params()),
        "refit_als_from_candidate": False,
    }
    return {"model": fitted.name, "params": steps.jsonable(fitted.get_params()), **counts}


def evaluate(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Score the lists `train` made on the Spark holdout and write the run's metrics."""
    made, holdout = ctx.holdout_lists, ctx.spark_holdout
    if made is None or holdout is None or ctx.snapshots is None:
        raise RecsysError("evaluate needs a trained model: run the train step first")
    described = holdout.described
    ctx.line(
        f"evaluate: holdout of {described['test_pairs']} loans by "
        f"{described['test_readers']} readers from {described['test_start']}"
    )
    catalog = ctx.snapshots[0]
    books = pd.Index(catalog[C.BOOK_ID].astype(str).unique())
    works = work_map(catalog)
    entries: dict[str, dict[str, Any]] = {
        name: {
            "metrics": score_lists(entry.recommendations, holdout.test, books, works, k=K),
            "params": entry.params,
            "fit_seconds": entry.fit_seconds,
        }
        for name, entry in made.lists.items()
    }
    for name, entry in entries.items():
        ctx.line(f"evaluate: {name}: ndcg@{K} {entry['metrics'][f'ndcg@{K}']:.4f}")
    return steps.write_metrics(settings, ctx, described, entries)


def score_lists(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    catalog_books: pd.Index,
    work_of: pd.Series,
    *,
    k: int,
) -> dict[str, float]:
    """Ranking metrics at `k` over the test readers, a hit counted by work as the implicit
    engine counts it (``record_`` figures: by record), and catalog coverage of their lists."""
    top = M.top_k(recommendations.loc[recommendations[C.READER_ID].isin(test[C.READER_ID])], k)
    per_reader = M.ranking_metrics(M.by_work(top, work_of), M.relevant_works(test, work_of), k=k)
    per_record = M.ranking_metrics(top, test, k=k)
    return {
        **M.summarize_ranking(per_reader, k=k),
        **{f"record_{name}": v for name, v in M.summarize_ranking(per_record, k=k).items()},
        f"repeated_work_lists@{k}": M.repeated_work_share(top, work_of),
        f"coverage@{k}": M.catalog_coverage(top, catalog_books),
        "readers": float(len(per_reader)),
    }


def reader_lists(
    model: SparkALSRecommender,
    spark: SparkSession,
    train: DataFrame,
    catalog: pd.DataFrame,
    readers: list[str],
) -> ReaderLists:
    """`model` fitted on `train` for readers' lists, and its lists of `readers`."""
    from recsys.evaluation.evaluate import ReaderLists, recommend_in_batches

    started = time.perf_counter()
    model.fit_frames(spark, train, catalog, similar_books=False)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    recommendations = recommend_in_batches(model, readers, k=K)
    return ReaderLists(
        recommendations,
        fit_seconds,
        time.perf_counter() - started,
        steps.jsonable(model.get_params()),
    )


def work_key_frame(spark: SparkSession, catalog: pd.DataFrame, path: Path) -> DataFrame:
    """``[book_id, work_key]`` of the catalogued records with a work (as the splits key them)."""
    import pyarrow as pa

    from recsys.engines.spark.training import to_spark

    records = catalog.loc[catalog[C.WORK_ID].notna(), [C.BOOK_ID, C.WORK_ID]].astype(str)
    table = pa.table(
        {
            C.BOOK_ID: records[C.BOOK_ID].tolist(),
            WORK_KEY: ("work:" + records[C.WORK_ID]).tolist(),
        },
        schema=pa.schema([(C.BOOK_ID, pa.string()), (WORK_KEY, pa.string())]),
    )
    return to_spark(spark, table, path)


def _iso(interactions: DataFrame, which: str) -> str | None:
    from pyspark.sql import functions as F

    value = interactions.agg(getattr(F, which)("seconds")).collect()[0][0]
    return None if value is None else pd.Timestamp(value, unit="s", tz="UTC").isoformat()
