"""Scale of the two training engines (issue 24): the ALS model of the implicit engine and the
Spark engine's (`spark_als`, Spark in local mode) on the same generated consortium and split.

Per size, once, in a fresh process: generate a consortium (`recsys.sample` with
`consortium_members` members, each with its own records of shared works; the works as ingest
derives them), keep the loans of the pooled members (`RECSYS_POOL_LIBRARIES`, every member by
default) and write them to Parquet. Then per engine, in a fresh process (so that peak memory is
that run's own): read them, cut the nightly's temporal holdout (newest 10% of loans, at most
`steps.MAX_TEST_READERS` test readers, the same seeded sample for both engines), fit the model
on the training part, list the test readers and score the lists by work
(`evaluate_recommendations`). Time is fit + lists + scoring (generation and reading excluded);
peak memory is the engine process's peak RSS, plus for Spark its JVM's (``VmHWM`` of the
gateway process before it stops). Both models use the same factors, iterations,
regularization, alpha and recency half-life. Both learn, score and pick works (the records of
one work pooled: a model's matrices have one column per work), and both lists are scored by
work.

Targets: Spark's NDCG@10 within 5% of the implicit ALS's; Spark's peak memory under 16 GiB; at
50M loans Spark's train + evaluate under 60 minutes; at 10M loans the implicit ALS's under 10
minutes and 8 GiB (the implicit engine's whole nightly at 10M loans is `bench_training`'s).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_scale``; set
``RECSYS_BENCH_SCALE_LOANS=1000000`` for fewer sizes (comma-separated) and
``RECSYS_SPARK_MASTER`` / ``RECSYS_SPARK_DRIVER_MEMORY`` for Spark's cores and heap.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.bench_training import GIB, IsolatedRunFailed, peak_gib, run_isolated
from recsys.config import Settings, get_settings
from recsys.consortium import consortium_record, pooled_dataset
from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_recommendations, recommend_in_batches
from recsys.evaluation.splits import sample_test_readers, temporal_split
from recsys.models.als import ALSRecommender
from recsys.models.base import Recommender
from recsys.nightly.steps import MAX_TEST_READERS, TEST_SHARE, K
from recsys.sample import SampleConfig, generate_library, library_dataset
from recsys.sample.config import consortium_members

SIZES = (1_000_000, 10_000_000, 50_000_000)
ENGINES = ("implicit", "spark")
#: parameters both engines' ALS share (the Spark model's defaults)
ALS_PARAMS: dict[str, Any] = {
    "factors": 64,
    "iterations": 15,
    "regularization": 0.01,
    "alpha": 10.0,
    "half_life_days": 180.0,
}
NDCG_TOLERANCE = 0.05
SPARK_TARGET_GIB = 16.0
SPARK_TARGET_SECONDS_50M = 3600.0
IMPLICIT_TARGET_SECONDS_10M = 600.0
IMPLICIT_TARGET_GIB = 8.0
#: The generated consortium's tables, written once per size for every engine's run.
TABLES = ("interactions", "catalog", "holdings")


def _jvm_peak_gib(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of the Spark JVM with process id `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def _model(engine: str, settings: Settings) -> Recommender:
    if engine == "implicit":
        return ALSRecommender(**ALS_PARAMS, random_state=settings.seed)
    from recsys.engines.spark.model import SparkALSRecommender

    return SparkALSRecommender(**ALS_PARAMS, random_state=settings.seed)


def load_consortium(n_loans: int, settings: Settings) -> tuple[Dataset, dict[str, Any]]:
    """A generated consortium of `n_loans` loans as the models train on it (the pooled members'
    loans), and its members as a consortium bundle's manifest names them."""
    config = SampleConfig(n_loans=n_loans, n_members=consortium_members(n_loans))
    library = generate_library(config)
    dataset = pooled_dataset(library_dataset(library), settings.pooled_libraries)
    return dataset, consortium_record(library.holdings, settings)


def _settings(folder: str) -> Settings:
    return get_settings().model_copy(update={"data_dir": Path(folder), "consortium": True})


def generate(n_loans: int, folder: str) -> dict[str, Any]:
    """Generate the consortium of `n_loans` loans into `folder` (Parquet tables and the
    members), for every engine's run to read."""
    started = time.perf_counter()
    dataset, members = load_consortium(n_loans, _settings(folder))
    for name in TABLES:
        getattr(dataset, name).to_parquet(Path(folder) / f"{name}.parquet")
    (Path(folder) / "members.json").write_text(json.dumps(members), encoding="utf-8")
    return {"generate_s": time.perf_counter() - started, "peak_gib": peak_gib()}


def measure(engine: str, n_loans: int, folder: str) -> dict[str, Any]:
    """Read the generated consortium in `folder`, split, fit on the training part, list and
    score the test readers."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(data_dir)
        dataset = Dataset(
            **{name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in TABLES}
        )
        members = json.loads((Path(folder) / "members.json").read_text(encoding="utf-8"))
        figures: dict[str, Any] = {
            "engine": engine,
            "loans": n_loans,
            "members": len(members["members"]),
            "pooled": len(members["pooled"]),
            "records": len(dataset.catalog),
            "interactions": len(dataset.interactions),
            "load": os.getloadavg()[0],
        }
        spark = None
        if engine == "spark":
            from recsys.engines.spark.session import spark_session

            spark = spark_session(settings)
            figures["master"] = spark.sparkContext.master
        started = time.perf_counter()
        split = sample_test_readers(
            temporal_split(dataset, test_share=TEST_SHARE),
            max_readers=MAX_TEST_READERS,
            seed=settings.seed,
        )
        model = _model(engine, settings).fit_for_reader_lists(split.train)
        figures["fit_s"] = time.perf_counter() - started
        recs = recommend_in_batches(model, list(split.test_readers), k=K)
        summary = evaluate_recommendations(recs, split, k=K).summary
        figures["train_evaluate_s"] = time.perf_counter() - started
        figures["ndcg@10"] = summary[f"ndcg@{K}"]
        figures["test_readers"] = len(split.test_readers)
        figures["peak_gib"] = peak_gib()
        if spark is not None:
            gateway = spark.sparkContext._gateway
            figures["jvm_peak_gib"] = _jvm_peak_gib(gateway.proc.pid)  # type: ignore[union-attr]
            spark.stop()
    figures["load"] = max(figures["load"], os.getloadavg()[0])
    return figures


def sizes() -> list[int]:
    chosen = os.environ.get("RECSYS_BENCH_SCALE_LOANS")
    return [int(s) for s in chosen.split(",")] if chosen else list(SIZES)


def main() -> None:
    print(
        f"{'loans':>12} {'members':>8} {'records':>10} {'engine':>8} {'train+eval s':>13} "
        f"{'peak GiB':>9} {'JVM GiB':>8} {'ndcg@10':>8} {'test readers':>13} {'load':>5}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for n_loans in sizes():
        try:
            implicit, spark = _measure_size(n_loans)
        except IsolatedRunFailed as error:  # e.g. more memory than the machine has
            print(f"{n_loans:>12,} not measured: {error}", flush=True)
            continue
        rows += [implicit, spark]
        _print_verdicts(n_loans, implicit, spark)
    _plot(rows)


def _measure_size(n_loans: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate the consortium of `n_loans` loans once, then measure each engine on it."""
    with tempfile.TemporaryDirectory() as folder:
        generated = run_isolated(generate, n_loans, folder)
        print(
            f"{'':>12} generated in {generated['generate_s']:.0f} s, "
            f"peak {generated['peak_gib']:.2f} GiB",
            flush=True,
        )
        rows = []
        for engine in ENGINES:
            rows.append(run_isolated(measure, engine, n_loans, folder))
            _print_row(rows[-1])
    return rows[0], rows[1]


def _print_verdicts(n_loans: int, implicit: dict[str, Any], spark: dict[str, Any]) -> None:
    within = spark["ndcg@10"] >= (1 - NDCG_TOLERANCE) * implicit["ndcg@10"]
    memory = spark["peak_gib"] + spark["jvm_peak_gib"]
    print(
        f"{'':>12} Spark ndcg@10 {spark['ndcg@10'] / implicit['ndcg@10']:.1%} of implicit's "
        f"(target >= {1 - NDCG_TOLERANCE:.0%}: {'met' if within else 'NOT met'}); Spark peak "
        f"{memory:.2f} GiB, Python + JVM (target < {SPARK_TARGET_GIB:.0f} GiB: "
        f"{'met' if memory < SPARK_TARGET_GIB else 'NOT met'}); Spark at {spark['master']}",
        flush=True,
    )
    if n_loans >= 10_000_000:
        seconds, memory = implicit["train_evaluate_s"], implicit["peak_gib"]
        met = seconds < IMPLICIT_TARGET_SECONDS_10M and memory < IMPLICIT_TARGET_GIB
        print(
            f"{'':>12} implicit train + evaluate {seconds / 60:.1f} min, {memory:.2f} GiB "
            f"(< 10 min and < {IMPLICIT_TARGET_GIB:.0f} GiB: {'met' if met else 'NOT met'})",
            flush=True,
        )
    if n_loans >= 50_000_000:
        seconds = spark["train_evaluate_s"]
        verdict = "met" if seconds < SPARK_TARGET_SECONDS_50M else "NOT met"
        print(f"{'':>12} Spark train + evaluate {seconds / 60:.0f} min (< 60: {verdict})")


def _print_row(figures: dict[str, Any]) -> None:
    print(
        f"{figures['loans']:>12,} {figures['members']:>8,} {figures['records']:>10,} "
        f"{figures['engine']:>8} {figures['train_evaluate_s']:>13.0f} "
        f"{figures['peak_gib']:>9.2f} {figures.get('jvm_peak_gib', float('nan')):>8.2f} "
        f"{figures['ndcg@10']:>8.4f} {figures['test_readers']:>13,} {figures['load']:>5.1f}",
        flush=True,
    )


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
