"""Training scaling of the default model (issue 3) on generated libraries of 1M and 10M loans.

Per size, in a fresh process (so that peak memory is that size's own): generation, then the
nightly run's train and evaluate steps as `recsys.nightly.steps` does them: ``train`` fits
`registry.default_model` on all the data; ``evaluate`` fits it again on the temporal split
(newest 10% of loans held out) with popularity and plain default ALS, and scores the same seeded
sample of at most `steps.MAX_TEST_READERS` test readers. Targets at 10M loans: train + evaluate
under 10 minutes, memory under 8 GiB. Peak memory is the process's peak RSS, generation and
evaluation included (the fitted full model stays alive during evaluation, as in the nightly).

At sizes up to `FULL_TEST_MAX_LOANS` the fitted candidate also scores every test reader, and
NDCG@10 on all of them is printed next to that of the sample and of other seeded samples: the
check that sampling test readers leaves the metric where it was.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_training``; set
``RECSYS_BENCH_TRAINING_LOANS=1000000`` to run fewer sizes (comma-separated).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from typing import Any

import numpy as np

from recsys.config import Settings
from recsys.evaluation.evaluate import (
    compare_models,
    evaluate_recommendations,
    recommend_in_batches,
)
from recsys.evaluation.splits import sample_test_readers, temporal_split
from recsys.models import registry
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

    settings = Settings(_env_file=None)
    started = time.perf_counter()
    dataset = load_sample(n_loans)
    figures: dict[str, Any] = {
        "loans": n_loans,
        "interactions": len(dataset.interactions),
        "generate_s": time.perf_counter() - started,
        "peak_after_generate_gib": peak_gib(),
        "load": os.getloadavg()[0],
    }
    started = time.perf_counter()
    trained = registry.default_model(settings).fit(dataset)
    figures["fit_s"] = time.perf_counter() - started
    figures["peak_after_fit_gib"] = peak_gib()
    started = time.perf_counter()
    full_split = temporal_split(dataset, test_share=TEST_SHARE)
    split = sample_test_readers(full_split, max_readers=MAX_TEST_READERS, seed=settings.seed)
    candidate = registry.default_model(settings)
    comparison = compare_models({"hybrid": candidate}, split, k=K, seed=settings.seed)
    figures["evaluate_s"] = time.perf_counter() - started
    figures["peak_gib"] = peak_gib()
    del trained  # alive until here: the nightly keeps its trained model while evaluating
    table = comparison.table()
    figures["fit_split_s"] = comparison.fit_seconds
    figures["recommend_s"] = comparison.recommend_seconds
    figures["ndcg@10"] = table[f"ndcg@{K}"].to_dict()
    figures["test_readers"] = int(table["readers"].iloc[0])
    figures["all_test_readers"] = len(full_split.test_readers)
    if n_loans <= FULL_TEST_MAX_LOANS and len(full_split.test_readers) > MAX_TEST_READERS:
        figures["sampling"] = _sampling_check(candidate, full_split, settings.seed)
    figures["load"] = max(figures["load"], os.getloadavg()[0])
    return figures


def _sampling_check(model: Any, split: Any, seed: int) -> dict[str, Any]:
    """The fitted candidate's NDCG@K on every test reader and on seeded samples of them."""
    recs = recommend_in_batches(model, list(split.test_readers), k=K)
    full = evaluate_recommendations(recs, split, k=K).summary[f"ndcg@{K}"]
    samples = [
        evaluate_recommendations(
            recs, sample_test_readers(split, max_readers=MAX_TEST_READERS, seed=s), k=K
        ).summary[f"ndcg@{K}"]
        for s in range(seed, seed + OTHER_SAMPLES + 1)
    ]
    return {"all": full, "samples": samples}


def _child(n_loans: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(measure(n_loans))


def run_isolated(n_loans: int) -> dict[str, Any]:
    """`measure` in a spawned process, so that each size reports its own peak memory."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(n_loans, queue))
    process.start()
    figures = queue.get()
    process.join()
    return figures


def sizes() -> list[int]:
    chosen = os.environ.get("RECSYS_BENCH_TRAINING_LOANS")
    return [int(s) for s in chosen.split(",")] if chosen else list(SIZES)


def main() -> None:
    results = []
    for n_loans in sizes():
        print(f"{n_loans:,} loans: generating, training, evaluating ...", flush=True)
        figures = run_isolated(n_loans)
        results.append(figures)
        fits = ", ".join(f"{m} {s:.0f} s" for m, s in figures["fit_split_s"].items())
        recs = ", ".join(f"{m} {s:.0f} s" for m, s in figures["recommend_s"].items())
        ndcg = ", ".join(f"{m} {v:.4f}" for m, v in figures["ndcg@10"].items())
        total = figures["fit_s"] + figures["evaluate_s"]
        within = total < TARGET_SECONDS and figures["peak_gib"] < TARGET_GIB
        verdict = "met" if within else "NOT met"
        print(
            f"  {figures['interactions']:,} interactions (with renewals, holds, views); "
            f"generated in {figures['generate_s']:.0f} s; load average up to "
            f"{figures['load']:.1f} on {os.cpu_count()} cores\n"
            f"  train (default model on all data): {figures['fit_s']:.1f} s; peak RSS "
            f"{figures['peak_after_fit_gib']:.2f} GiB ({figures['peak_after_generate_gib']:.2f} "
            f"GiB after generation)\n"
            f"  evaluate (temporal {TEST_SHARE:.0%}, {figures['test_readers']:,} of "
            f"{figures['all_test_readers']:,} test readers): {figures['evaluate_s']:.0f} s\n"
            f"  train + evaluate {total:.0f} s, peak RSS {figures['peak_gib']:.2f} GiB "
            f"(targets < {TARGET_SECONDS:.0f} s, < {TARGET_GIB:.0f} GiB: {verdict})\n"
            f"    fit on split: {fits}; recommend: {recs}\n    ndcg@10: {ndcg}",
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
        growth = last["fit_s"] / first["fit_s"]
        print(
            f"fit time {first['loans']:,} -> {last['loans']:,} loans ({scale:.0f}x data): "
            f"{first['fit_s']:.1f} s -> {last['fit_s']:.1f} s ({growth:.1f}x)"
        )


if __name__ == "__main__":
    main()
