"""Scale of the two training engines (issue 24): the ALS model of the implicit engine and the
Spark engine's (`spark_als`, Spark in local mode) on the same generated consortium and split.

Per size, once, in a fresh process: generate a consortium (`recsys.sample` with
`consortium_members` members, each with its own records of shared works; the works as ingest
derives them), keep the loans of the pooled members (`RECSYS_POOL_LIBRARIES`, every member by
default) and write them to Parquet. Then per engine, in a fresh process (so that peak memory is
that run's own), each engine's own nightly path:

- implicit: read the loans into pandas, cut the nightly's temporal holdout (newest 10% of
  loans, at most `steps.MAX_TEST_READERS` test readers, a seeded sample), fit the model on the
  training part, list the test readers and score the lists by work
  (`evaluate_recommendations`);
- Spark: Spark reads the loans and cuts the same holdout (`holdout.temporal_holdout`, the
  same split by construction and by `tests/engines/test_spark_holdout.py`), fits on the
  training part and lists the test readers (`nightly.reader_lists`), and the lists are scored
  by work (`nightly.score_lists`); the loans never come into Python.

The bench checks that both engines held out the same pairs. Time is split + fit + lists +
scoring (generation and reading excluded; the fit alone is printed beside it); peak memory is
the engine process's peak RSS, plus for Spark its JVM's (``VmHWM`` of the gateway process
before it stops). Both models use the same regularization, alpha and recency half-life; the
implicit ALS the implicit engine's 64 factors and 15 iterations, the Spark model its engine's
defaults (fewer flops, chosen on development data by `bench_spark_choice`). Both learn, score
and pick works (the records of one work pooled: a model's matrices have one column per work).

An engine whose Python peak, grown in proportion to the loans from its largest measured size,
would not fit in this machine's memory is not run at that size (the bench says so, with the
projection).

Targets: Spark's NDCG@10 within 5% of the implicit ALS's; Spark's peak memory under 16 GiB; at
50M loans Spark's train + evaluate under 60 minutes; at 10M loans the implicit ALS's under 10
minutes and 8 GiB (the implicit engine's whole nightly at 10M loans is `bench_training`'s).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_scale``; set
``RECSYS_BENCH_SCALE_LOANS=1000000`` for fewer sizes (comma-separated),
``RECSYS_BENCH_SCALE_ENGINES=spark`` for one engine, and
``RECSYS_SPARK_MASTER`` / ``RECSYS_SPARK_DRIVER_MEMORY`` for Spark's cores and heap.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from benchmarks.bench_training import GIB, IsolatedRunFailed, peak_gib, run_isolated
from recsys.columns import Columns as C
from recsys.config import Settings, get_settings
from recsys.consortium import consortium_record, pooled_dataset
from recsys.data.dataset import Dataset
from recsys.data.works import work_map
from recsys.engines.spark.model import SparkALSRecommender
from recsys.evaluation.evaluate import evaluate_recommendations, recommend_in_batches
from recsys.evaluation.splits import sample_test_readers, temporal_split
from recsys.models.als import ALSRecommender
from recsys.nightly.steps import MAX_TEST_READERS, TEST_SHARE, K
from recsys.sample import SampleConfig, generate_library, library_dataset
from recsys.sample.config import consortium_members

SIZES = (1_000_000, 10_000_000, 50_000_000)
ENGINES = ("implicit", "spark")
#: parameters both engines' ALS share (the Spark model's defaults)
SHARED_ALS_PARAMS: dict[str, Any] = {
    "regularization": 0.01,
    "alpha": 10.0,
    "half_life_days": 180.0,
}
#: the implicit ALS the Spark engine is held to: the implicit engine's 64 factors and 15
#: iterations. Spark trains with its own defaults, fewer flops chosen on development data
#: (`bench_spark_choice`).
IMPLICIT_ALS_PARAMS: dict[str, Any] = {**SHARED_ALS_PARAMS, "factors": 64, "iterations": 15}
NDCG_TOLERANCE = 0.05
SPARK_TARGET_GIB = 16.0
SPARK_TARGET_SECONDS_50M = 3600.0
IMPLICIT_TARGET_SECONDS_10M = 600.0
IMPLICIT_TARGET_GIB = 8.0
#: The generated consortium's tables, written once per size for every engine's run.
TABLES = ("interactions", "catalog", "holdings")
#: The loans as Spark reads them (`frames.write_interactions`), written beside the tables.
SPARK_LOANS = "spark-interactions"
#: An engine runs at a size only if its projected peak stays under this share of the memory.
MEMORY_SHARE = 0.9


def _jvm_peak_gib(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of the Spark JVM with process id `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def load_consortium(
    n_loans: int, settings: Settings, seed: int = SampleConfig.seed
) -> tuple[Dataset, dict[str, Any]]:
    """A generated consortium of `n_loans` loans as the models train on it (the pooled members'
    loans), and its members as a consortium bundle's manifest names them."""
    config = SampleConfig(n_loans=n_loans, n_members=consortium_members(n_loans), seed=seed)
    library = generate_library(config)
    dataset = pooled_dataset(library_dataset(library), settings.pooled_libraries)
    return dataset, consortium_record(library.holdings, settings)


def _settings(folder: str) -> Settings:
    return get_settings().model_copy(update={"data_dir": Path(folder), "consortium": True})


def generate(n_loans: int, folder: str, seed: int = SampleConfig.seed) -> dict[str, Any]:
    """Generate the consortium of `n_loans` loans (generator `seed`) into `folder` (Parquet
    tables, the loans as Spark reads them, and the members), for every engine's run to read."""
    from recsys.engines.spark.frames import write_interactions

    started = time.perf_counter()
    dataset, members = load_consortium(n_loans, _settings(folder), seed)
    for name in TABLES:
        getattr(dataset, name).to_parquet(Path(folder) / f"{name}.parquet")
    write_interactions(dataset.interactions, Path(folder) / SPARK_LOANS)
    (Path(folder) / "members.json").write_text(json.dumps(members), encoding="utf-8")
    return {"generate_s": time.perf_counter() - started, "peak_gib": peak_gib()}


def measure(
    engine: str, n_loans: int, folder: str, spark_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One engine's holdout, fit, lists and scores on the consortium generated in `folder`;
    `spark_params` override the Spark model's defaults (factors, iterations)."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(data_dir)
        catalog = pd.read_parquet(Path(folder) / "catalog.parquet")
        members = json.loads((Path(folder) / "members.json").read_text(encoding="utf-8"))
        figures: dict[str, Any] = {
            "engine": engine,
            "loans": n_loans,
            "members": len(members["members"]),
            "pooled": len(members["pooled"]),
            "records": len(catalog),
            "interactions": pq.read_metadata(Path(folder) / "interactions.parquet").num_rows,
            "load": os.getloadavg()[0],
        }
        if engine == "spark":
            figures.update(_run_spark(settings, Path(folder), catalog, spark_params or {}))
        else:
            figures.update(_run_implicit(settings, Path(folder), catalog))
    figures["load"] = max(figures["load"], os.getloadavg()[0])
    return figures


def _run_implicit(settings: Settings, folder: Path, catalog: pd.DataFrame) -> dict[str, Any]:
    """The implicit engine's nightly path: the loans in pandas, split, fit, list, score."""
    dataset = Dataset(
        interactions=pd.read_parquet(folder / "interactions.parquet"),
        catalog=catalog,
        holdings=pd.read_parquet(folder / "holdings.parquet"),
    )
    started = time.perf_counter()
    split = sample_test_readers(
        temporal_split(dataset, test_share=TEST_SHARE),
        max_readers=MAX_TEST_READERS,
        seed=settings.seed,
    )
    fitting = time.perf_counter()
    model = ALSRecommender(**IMPLICIT_ALS_PARAMS, random_state=settings.seed)
    model.fit_for_reader_lists(split.train)
    fit_s = time.perf_counter() - fitting
    recs = recommend_in_batches(model, list(split.test_readers), k=K)
    summary = evaluate_recommendations(recs, split, k=K).summary
    return {
        "fit_s": fit_s,
        "train_evaluate_s": time.perf_counter() - started,
        "ndcg@10": summary[f"ndcg@{K}"],
        "test_readers": len(split.test_readers),
        "held_out": held_out_digest(split.test),
        "peak_gib": peak_gib(),
    }


def _run_spark(
    settings: Settings, folder: Path, catalog: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """The Spark engine's nightly path: Spark reads the loans and cuts the holdout; only the
    sampled test readers' held-out loans and the fitted model come into Python."""
    from pyspark import StorageLevel

    from recsys.engines.spark.holdout import temporal_holdout
    from recsys.engines.spark.nightly import reader_lists, score_lists, work_key_frame
    from recsys.engines.spark.session import spark_session, work_dir

    spark = spark_session(settings)
    loans = spark.read.parquet(str(folder / SPARK_LOANS)).persist(StorageLevel.MEMORY_AND_DISK)
    started = time.perf_counter()
    holdout = temporal_holdout(
        loans,
        work_key_frame(spark, catalog, work_dir(spark) / "work_keys"),
        test_share=TEST_SHARE,
        max_readers=MAX_TEST_READERS,
        seed=settings.seed,
    )
    model = SparkALSRecommender(**SHARED_ALS_PARAMS, **params, random_state=settings.seed)
    made = reader_lists(
        model,
        spark,
        holdout.train,
        catalog,
        holdout.test_readers,
    )
    books = pd.Index(catalog[C.BOOK_ID].astype(str).unique())
    metrics = score_lists(made.recommendations, holdout.test, books, work_map(catalog), k=K)
    figures = {
        "master": spark.sparkContext.master,
        "factors": model.factors,
        "iterations": model.iterations,
        "fit_s": made.fit_seconds,
        "train_evaluate_s": time.perf_counter() - started,
        "ndcg@10": metrics[f"ndcg@{K}"],
        "test_readers": len(holdout.test_readers),
        "held_out": held_out_digest(holdout.test),
        "peak_gib": peak_gib(),
        "jvm_peak_gib": _jvm_peak_gib(spark.sparkContext._gateway.proc.pid),  # type: ignore[union-attr]
    }
    spark.stop()
    return figures


def held_out_digest(test: pd.DataFrame) -> str:
    """A digest of the held-out (reader, book) pairs, the same for the same pairs in any order."""
    pairs = sorted(test[C.READER_ID].astype(str) + "\t" + test[C.BOOK_ID].astype(str))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def engines() -> list[str]:
    chosen = os.environ.get("RECSYS_BENCH_SCALE_ENGINES")
    if not chosen:
        return list(ENGINES)
    picked = [name.strip() for name in chosen.split(",")]
    unknown = sorted(set(picked) - set(ENGINES))
    if unknown:
        raise SystemExit(f"RECSYS_BENCH_SCALE_ENGINES: unknown {unknown}; known: {list(ENGINES)}")
    return picked


def sizes() -> list[int]:
    chosen = os.environ.get("RECSYS_BENCH_SCALE_LOANS")
    return [int(s) for s in chosen.split(",")] if chosen else list(SIZES)


def main() -> None:
    spark = SparkALSRecommender()
    print(
        f"ALS: implicit {IMPLICIT_ALS_PARAMS['factors']} factors x "
        f"{IMPLICIT_ALS_PARAMS['iterations']} iterations; Spark {spark.factors} x "
        f"{spark.iterations} (its defaults)",
        flush=True,
    )
    print(
        f"{'loans':>12} {'members':>8} {'records':>10} {'engine':>14} {'train+eval s':>13} "
        f"{'fit s':>6} {'peak GiB':>9} {'JVM GiB':>8} {'ndcg@10':>8} {'test readers':>13} "
        f"{'load':>5}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for n_loans in sizes():
        measured = _measure_size(n_loans, rows)
        rows += measured.values()
        _print_verdicts(n_loans, measured)
    _plot(rows)


def _measure_size(n_loans: int, earlier: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Generate the consortium of `n_loans` loans once, then measure on it each engine whose
    `earlier` rows do not say it would run out of memory. A run that fails (e.g. killed for
    memory) is reported and the next engine runs."""
    runnable = []
    for engine in engines():
        reason = too_large(engine, n_loans, earlier, machine_gib())
        if reason:
            print(f"{n_loans:>12,} {reason}", flush=True)
        else:
            runnable.append(engine)
    rows: dict[str, dict[str, Any]] = {}
    if not runnable:
        return rows
    with tempfile.TemporaryDirectory() as folder:
        try:
            generated = run_isolated(generate, n_loans, folder)
        except IsolatedRunFailed as error:
            print(f"{n_loans:>12,} not generated: {error}", flush=True)
            return rows
        print(
            f"{'':>12} generated in {generated['generate_s']:.0f} s, "
            f"peak {generated['peak_gib']:.2f} GiB",
            flush=True,
        )
        for engine in runnable:
            try:
                rows[engine] = run_isolated(measure, engine, n_loans, folder)
            except IsolatedRunFailed as error:
                print(f"{n_loans:>12,} {engine} not measured: {error}", flush=True)
                continue
            _print_row(rows[engine])
    return rows


def machine_gib() -> float:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB


def too_large(
    engine: str, n_loans: int, earlier: list[dict[str, Any]], memory_gib: float
) -> str | None:
    """Why `engine` would not fit in `memory_gib` at `n_loans` loans (its Python peak at its
    largest measured size in `earlier`, grown in proportion to the loans), or None."""
    measured = [row for row in earlier if row["engine"] == engine and row["loans"] < n_loans]
    if not measured:
        return None
    largest = max(measured, key=lambda row: row["loans"])
    projected = largest["peak_gib"] * n_loans / largest["loans"]
    if projected < MEMORY_SHARE * memory_gib:
        return None
    return (
        f"{engine} not run: its peak of {largest['peak_gib']:.2f} GiB at "
        f"{largest['loans']:,} loans, grown with the loans, would be {projected:.1f} GiB "
        f"(this machine: {memory_gib:.1f} GiB)"
    )


def _print_verdicts(n_loans: int, measured: dict[str, dict[str, Any]]) -> None:
    implicit, spark = measured.get("implicit"), measured.get("spark")
    if implicit and spark:
        within = spark["ndcg@10"] >= (1 - NDCG_TOLERANCE) * implicit["ndcg@10"]
        same = implicit["held_out"] == spark["held_out"]
        print(
            f"{'':>12} Spark ndcg@10 {spark['ndcg@10'] / implicit['ndcg@10']:.1%} of "
            f"implicit's (target >= {1 - NDCG_TOLERANCE:.0%}: {'met' if within else 'NOT met'}); "
            f"the same held-out loans: {'yes' if same else 'NO'}",
            flush=True,
        )
    if spark:
        memory = spark["peak_gib"] + spark["jvm_peak_gib"]
        print(
            f"{'':>12} Spark peak {memory:.2f} GiB, Python + JVM (target < "
            f"{SPARK_TARGET_GIB:.0f} GiB: {'met' if memory < SPARK_TARGET_GIB else 'NOT met'}); "
            f"Spark at {spark['master']}",
            flush=True,
        )
    if implicit and n_loans >= 10_000_000:
        seconds, memory = implicit["train_evaluate_s"], implicit["peak_gib"]
        met = seconds < IMPLICIT_TARGET_SECONDS_10M and memory < IMPLICIT_TARGET_GIB
        print(
            f"{'':>12} implicit train + evaluate {seconds / 60:.1f} min, {memory:.2f} GiB "
            f"(< 10 min and < {IMPLICIT_TARGET_GIB:.0f} GiB: {'met' if met else 'NOT met'})",
            flush=True,
        )
    if spark and n_loans >= 50_000_000:
        seconds = spark["train_evaluate_s"]
        verdict = "met" if seconds < SPARK_TARGET_SECONDS_50M else "NOT met"
        print(f"{'':>12} Spark train + evaluate {seconds / 60:.0f} min (< 60: {verdict})")


def _print_row(figures: dict[str, Any]) -> None:
    print(
        f"{figures['loans']:>12,} {figures['members']:>8,} {figures['records']:>10,} "
        f"{_engine_label(figures):>14} {figures['train_evaluate_s']:>13.0f} "
        f"{figures['fit_s']:>6.0f} "
        f"{figures['peak_gib']:>9.2f} {figures.get('jvm_peak_gib', float('nan')):>8.2f} "
        f"{figures['ndcg@10']:>8.4f} {figures['test_readers']:>13,} {figures['load']:>5.1f}",
        flush=True,
    )


def _engine_label(figures: dict[str, Any]) -> str:
    """The engine and, for Spark, the factors x iterations it ran with."""
    if "factors" not in figures:
        return str(figures["engine"])
    return f"{figures['engine']} {figures['factors']}x{figures['iterations']}"


def _plot(rows: list[dict[str, Any]]) -> None:
    """Time and peak memory against loans, one line per engine, into reports/bench_scale.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for engine in ENGINES:
        mine = [row for row in rows if row["engine"] == engine]
        loans = [row["loans"] for row in mine]
        time_axis.plot(loans, [row["train_evaluate_s"] / 60 for row in mine], "o-", label=engine)
        memory = [row["peak_gib"] + row.get("jvm_peak_gib", 0.0) for row in mine]
        memory_axis.plot(loans, memory, "o-", label=engine)
    for axis, label in ((time_axis, "train + evaluate (min)"), (memory_axis, "peak RSS (GiB)")):
        axis.set_xscale("log")
        axis.set_xlabel("loans")
        axis.set_ylabel(label)
        axis.legend()
    out = Path("reports") / "bench_scale.png"
    out.parent.mkdir(exist_ok=True)
    figure.tight_layout()
    figure.savefig(out)
    print(f"plot: {out}", flush=True)


if __name__ == "__main__":
    main()
