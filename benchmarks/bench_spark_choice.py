"""The Spark engine's ALS factors and iterations, chosen on development data (issue 24).

`pyspark.ml`'s ALS is most of the Spark engine's time, and its cost per iteration grows with
the ratings times the factors squared. Fewer factors or iterations train faster but change the
model, so they are chosen here, never on `bench_scale`'s consortia, which then confirm the
choice. The development sets:

- a consortium generated with another seed (`DEVELOPMENT_SEED`) than `bench_scale`'s: per grid
  point, the Spark engine's nightly path (holdout, fit, lists, scores; `bench_scale.measure`);
- the generator's consortia may be easier to learn than a library's loans, so also the first
  (development) rolling cut of the two real logs in `../shared/data` (`recsys.evaluation.rolling`;
  Swiss university loans, Lib-SibGMU), where they are there.

On each, the implicit engine's ALS (64 factors, 15 iterations) runs on the same split in the
same invocation, for the record. The choice: the cheapest grid point (ALS's work per rating,
iterations x factors squared; measured fit times move with the machine's load) whose NDCG@10 on
every development set is at least `1 - MARGIN` of the Spark ALS's at the implicit engine's
factors and iterations (`REFERENCE`): fewer flops for no loss of quality.

Run: ``RECSYS_SPARK_MASTER='local[2]' RECSYS_SPARK_DRIVER_MEMORY=6g OPENBLAS_NUM_THREADS=1
.venv/bin/python -m benchmarks bench_spark_choice``; ``RECSYS_BENCH_SPARK_CHOICE_LOANS`` sets
the development consortium's loans (1M by default).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from benchmarks.bench_scale import IMPLICIT_ALS_PARAMS, SHARED_ALS_PARAMS, generate, measure
from benchmarks.bench_training import run_isolated
from recsys.engines.spark.model import SparkALSRecommender
from recsys.sample import SampleConfig

#: The development consortium's generator seed; `bench_scale` generates with the default.
DEVELOPMENT_SEED = 7
DEVELOPMENT_LOANS = 1_000_000
FACTORS = (16, 32, 64)
ITERATIONS = (3, 5, 15)
#: The real logs whose first rolling cut judges every point too (`bench_quality`'s loaders).
REAL_LOGS = ("swiss", "lib-sibgmu")
#: The point the others are held to: the implicit engine's factors and iterations.
REFERENCE: dict[str, Any] = {"factors": 64, "iterations": 15}
#: How far below the reference's NDCG@10 a chosen point may be on any development set
#: (docs/scaling.md says how it was set).
MARGIN = 0.03


def grid() -> list[dict[str, Any]]:
    """Every point, cheapest first."""
    return sorted(({"factors": f, "iterations": i} for f in FACTORS for i in ITERATIONS), key=cost)


def cost(point: dict[str, Any]) -> int:
    """ALS's work per rating at `point`, up to a constant."""
    return int(point["iterations"] * point["factors"] ** 2)


def label(point: dict[str, Any]) -> str:
    return f"{point['factors']}x{point['iterations']}"


def choose(scores: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The cheapest point within `MARGIN` of `REFERENCE` on every development set (`scores`:
    per set, NDCG@10 by point label)."""
    reference = label(REFERENCE)
    good = [
        point
        for point in grid()
        if all(found[label(point)] >= (1 - MARGIN) * found[reference] for found in scores.values())
    ]
    return min(good, key=cost) if good else None


def real_log_points(name: str) -> dict[str, Any]:
    """NDCG@10 of the implicit ALS and of every grid point on the real log `name`'s first
    rolling cut (a development cut); empty when the log is not in ``../shared/data``."""
    from benchmarks.bench_quality import load_sibgmu, load_swiss
    from recsys.config import get_settings
    from recsys.engines.spark.session import spark_session
    from recsys.evaluation.evaluate import evaluate_recommendations, recommend_in_batches
    from recsys.evaluation.rolling import rolling_cuts
    from recsys.models.als import ALSRecommender

    dataset = {"swiss": load_swiss, "lib-sibgmu": load_sibgmu}[name]()
    if dataset is None:
        return {}
    split = rolling_cuts(dataset)[0].split
    readers = list(split.test_readers)

    def ndcg(model: Any) -> float:
        model.fit_for_reader_lists(split.train)
        recs = recommend_in_batches(model, readers, k=10)
        return float(evaluate_recommendations(recs, split, k=10).summary["ndcg@10"])

    seed = get_settings().seed
    spark = spark_session(get_settings())
    found: dict[str, Any] = {
        "test_readers": len(readers),
        "implicit": ndcg(ALSRecommender(**IMPLICIT_ALS_PARAMS, random_state=seed)),
    }
    for params in grid():
        model = SparkALSRecommender(**SHARED_ALS_PARAMS, **params, random_state=seed)
        found[label(params)] = ndcg(model)
    spark.stop()
    return found


def main() -> None:
    assert SampleConfig.seed != DEVELOPMENT_SEED, "development must not be bench_scale's data"
    scores = {"consortium": development_consortium()}
    for name in REAL_LOGS:
        found = run_isolated(real_log_points, name)
        if found:
            scores[name] = found
        else:
            print(f"{name}: not in ../shared/data, not judged", flush=True)
    print_table(scores)
    chosen = choose(scores)
    defaults = SparkALSRecommender()
    print(
        f"chosen (the cheapest within {MARGIN:.0%} of {label(REFERENCE)} on every development "
        f"set): {label(chosen) if chosen else 'none'}; the Spark model's defaults: "
        f"{label(vars(defaults))}",
        flush=True,
    )


def development_consortium() -> dict[str, Any]:
    """NDCG@10 of the implicit ALS and of every grid point on the development consortium."""
    n_loans = int(os.environ.get("RECSYS_BENCH_SPARK_CHOICE_LOANS", DEVELOPMENT_LOANS))
    with tempfile.TemporaryDirectory() as folder:
        generated = run_isolated(generate, n_loans, folder, DEVELOPMENT_SEED)
        print(
            f"development consortium: {n_loans:,} loans, seed {DEVELOPMENT_SEED}, generated in "
            f"{generated['generate_s']:.0f} s",
            flush=True,
        )
        implicit = run_isolated(measure, "implicit", n_loans, folder)
        found: dict[str, Any] = {
            "test_readers": implicit["test_readers"],
            "implicit": implicit["ndcg@10"],
        }
        print(f"{'point':>8} {'fit s':>6} {'train+eval s':>13} {'load':>5}", flush=True)
        print(f"{'implicit':>8} {implicit['fit_s']:>6.0f} {implicit['train_evaluate_s']:>13.0f}")
        for point in grid():
            row = run_isolated(measure, "spark", n_loans, folder, point)
            found[label(point)] = row["ndcg@10"]
            print(
                f"{label(point):>8} {row['fit_s']:>6.0f} {row['train_evaluate_s']:>13.0f} "
                f"{row['load']:>5.1f}",
                flush=True,
            )
    return found


def print_table(scores: dict[str, dict[str, Any]]) -> None:
    """NDCG@10 per point and development set, and its ratio to the reference's."""
    reference = label(REFERENCE)
    print(
        "NDCG@10 (of "
        + reference
        + "'s) per development set: "
        + "; ".join(
            f"{name}: {found['test_readers']:,} test readers" for name, found in scores.items()
        ),
        flush=True,
    )
    print(f"{'point':>8}" + "".join(f"{name:>24}" for name in scores), flush=True)
    for point in ["implicit", *map(label, grid())]:
        cells = [
            f"{found[point]:.4f} ({found[point] / found[reference]:.1%})"
            for found in scores.values()
        ]
        print(f"{point:>8}" + "".join(f"{cell:>24}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
