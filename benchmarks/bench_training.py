"""Training scaling of the default model (issue 3) on generated libraries of 1M and 10M loans.

Per size, in a fresh process (so that peak memory is that size's own): generation, then the
nightly run's train and evaluate steps themselves (`recsys.nightly.steps`). ``train`` fits the
default model on the holdout's training part (the newest 10% of loans held out; the hybrid tunes
its blend on validation carved from that part) and lists the sampled test readers with it, does
the same with popularity and plain default ALS, then refits the chosen blend on all the data;
``evaluate`` scores the three lists on the same seeded sample of at most
`steps.MAX_TEST_READERS` test readers. Targets at 10M loans: train + evaluate under 10 minutes,
memory under 8 GiB. Peak memory is the process's peak RSS, generation included.

At sizes up to `FULL_TEST_MAX_LOANS` the recipe is fitted once more on the training part to
score every test reader: NDCG@10 on all of them is printed next to that of the sample and of
other seeded samples, the check that sampling test readers leaves the metric where it was.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_training``; set
``RECSYS_BENCH_TRAINING_LOANS=1000000`` to run fewer sizes (comma-separated).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np

from recsys import artifacts
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.evaluation.evaluate import evaluate_recommendations, recommend_in_batches
from recsys.evaluation.splits import Split, sample_test_readers, temporal_split
from recsys.models import registry
from recsys.nightly import steps
from recsys.nightly.progress import Progress
from recsys.nightly.steps import MAX_TEST_READERS, TEST_SHARE, K

SIZES = (1_000_000, 10_000_000)
TARGET_SECONDS = 600.0
TARGET_GIB = 8.0
GIB = 1024**3
FULL_TEST_MAX_LOANS = 1_000_000
OTHER_SAMPLES = 4


def peak_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def measure(n_loans: int) -> dict[str, Any]:
    """Generate, then the nightly's train step and evaluate step."""
    from benchmarks.bench_quality import load_sample  # the same generated Dataset as there

    started = time.perf_counter()
    dataset = load_sample(n_loans)
    figures: dict[str, Any] = {
        "loans": n_loans,
        "interactions": len(dataset.interactions),
        "generate_s": time.perf_counter() - started,
        "peak_after_generate_gib": peak_gib(),
        "load": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,
            models_dir=Path(folder) / "models",
            database_url=f"sqlite:///{folder}/unused.db",
        )
        # the steps' own progress lines, timestamped, show where the time goes
        ctx = steps.RunContext(
            artifacts.new_run_id(), make_engine(settings), Progress("lines"), dataset=dataset
        )
        started = time.perf_counter()
        steps.train(settings, ctx)
        figures["train_s"] = time.perf_counter() - started
        figures["peak_after_train_gib"] = peak_gib()
        started = time.perf_counter()
        metrics = steps.evaluate(settings, ctx)
        figures["evaluate_s"] = time.perf_counter() - started
    figures["peak_gib"] = peak_gib()
    models = metrics["models"]
    figures["fit_split_s"] = {name: entry["fit_seconds"] for name, entry in models.items()}
    figures["ndcg@10"] = {name: entry["metrics"][f"ndcg@{K}"] for name, entry in models.items()}
    figures["test_readers"] = int(metrics["split"]["test_readers"])
    full_split = temporal_split(dataset, test_share=TEST_SHARE)
    figures["all_test_readers"] = len(full_split.test_readers)
    if n_loans <= FULL_TEST_MAX_LOANS and len(full_split.test_readers) > MAX_TEST_READERS:
        figures["sampling"] = _sampling_check(full_split, settings)
    figures["load"] = max(figures["load"], os.getloadavg()[0])
    return figures


def _sampling_check(split: Split, settings: Settings) -> dict[str, Any]:
    """The recipe's NDCG@K on every test reader and on seeded samples of them."""
    model = registry.default_model(settings).fit_for_reader_lists(split.train)
    recs = recommend_in_batches(model, list(split.test_readers), k=K)
    full = evaluate_recommendations(recs, split, k=K).summary[f"ndcg@{K}"]
    samples = [
        evaluate_recommendations(
            recs, sample_test_readers(split, max_readers=MAX_TEST_READERS, seed=s), k=K
        ).summary[f"ndcg@{K}"]
        for s in range(settings.seed, settings.seed + OTHER_SAMPLES + 1)
    ]
    return {"all": full, "samples": samples}


def _child(
    target: Callable[..., dict[str, Any]],
    args: tuple[Any, ...],
    queue: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    queue.put(target(*args))


#: How often a waiting benchmark looks whether its spawned process is still alive.
CHILD_POLL_SECONDS = 5.0


class IsolatedRunFailed(RuntimeError):
    """The spawned process ended without figures (an error it printed, or killed)."""


def run_isolated(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``target(*args)`` (a module-level function) in a spawned process, so that each run
    reports its own peak memory. A process that ends without figures (its error printed
    above, or killed for memory) raises `IsolatedRunFailed` instead of waiting forever."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    while True:
        try:
            figures: dict[str, Any] = queue.get(timeout=CHILD_POLL_SECONDS)
            break
        except Empty:
            if not process.is_alive() and queue.empty():
                raise IsolatedRunFailed(
                    f"{target.__name__} ended without figures (exit code {process.exitcode})"
                ) from None
    process.join()
    return figures


def sizes() -> list[int]:
    chosen = os.environ.get("RECSYS_BENCH_TRAINING_LOANS")
    return [int(s) for s in chosen.split(",")] if chosen else list(SIZES)


def main() -> None:
    results = []
    for n_loans in sizes():
        print(f"{n_loans:,} loans: generating, training, evaluating ...", flush=True)
        figures = run_isolated(measure, n_loans)
        results.append(figures)
        fits = ", ".join(f"{m} {s:.0f} s" for m, s in figures["fit_split_s"].items())
        ndcg = ", ".join(f"{m} {v:.4f}" for m, v in figures["ndcg@10"].items())
        total = figures["train_s"] + figures["evaluate_s"]
        within = total < TARGET_SECONDS and figures["peak_gib"] < TARGET_GIB
        verdict = "met" if within else "NOT met"
        print(
            f"  {figures['interactions']:,} interactions (with renewals, holds, views); "
            f"generated in {figures['generate_s']:.0f} s; load average up to "
            f"{figures['load']:.1f} on {os.cpu_count()} cores\n"
            f"  train step (every model on the training part, then the candidate on all data): "
            f"{figures['train_s']:.1f} s; peak RSS {figures['peak_after_train_gib']:.2f} GiB "
            f"({figures['peak_after_generate_gib']:.2f} GiB after generation)\n"
            f"  evaluate step (temporal {TEST_SHARE:.0%}, {figures['test_readers']:,} of "
            f"{figures['all_test_readers']:,} test readers): {figures['evaluate_s']:.0f} s\n"
            f"  train + evaluate {total:.0f} s, peak RSS {figures['peak_gib']:.2f} GiB "
            f"(targets < {TARGET_SECONDS:.0f} s, < {TARGET_GIB:.0f} GiB: {verdict})\n"
            f"    fit on the training part: {fits}\n    ndcg@10: {ndcg}",
            flush=True,
        )
        if "sampling" in figures:
            samples = np.array(figures["sampling"]["samples"])
            print(
                f"    hybrid ndcg@10 on all {figures['all_test_readers']:,} test readers "
                f"{figures['sampling']['all']:.4f}; on {len(samples)} seeded samples of "
                f"{MAX_TEST_READERS:,}: {samples.min():.4f} to {samples.max():.4f} "
                f"(sd {samples.std():.4f})",
                flush=True,
            )
    if len(results) > 1:
        first, last = results[0], results[-1]
        scale = last["loans"] / first["loans"]
        print(f"{first['loans']:,} -> {last['loans']:,} loans ({scale:.0f}x data):")
        for label, before, after in [
            ("train step", first["train_s"], last["train_s"]),
            *(
                (f"{name} fit on the training part", first["fit_split_s"][name], seconds)
                for name, seconds in last["fit_split_s"].items()
            ),
        ]:
            print(f"  {label}: {before:.1f} s -> {after:.1f} s ({after / before:.1f}x)")


if __name__ == "__main__":
    main()
