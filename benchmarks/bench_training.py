"""Training scaling of the default model (issue 3) on generated libraries of 1M and 10M loans.

Per size, in a fresh process (so that peak memory is that size's own): generation, fit time of
`registry.default_model` on all the data, and the train + evaluate step of the nightly run
(temporal split, the default model compared with popularity and plain default ALS on the same
split). Targets at 10M loans: train + evaluate under 10 minutes, memory under 8 GiB. Peak memory
is the process's peak RSS, generation and evaluation included.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_training``; set
``RECSYS_BENCH_TRAINING_LOANS=1000000`` to run fewer sizes (comma-separated).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from typing import Any

from recsys.config import Settings
from recsys.evaluation.evaluate import compare_models
from recsys.evaluation.splits import temporal_split
from recsys.models import registry

SIZES = (1_000_000, 10_000_000)
TARGET_SECONDS = 600.0
TARGET_GIB = 8.0
GIB = 1024**3


def peak_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def measure(n_loans: int) -> dict[str, Any]:
    """Generate, fit the default model on everything, then train + evaluate on a split."""
    from benchmarks.bench_quality import load_sample  # the same generated Dataset as there

    settings = Settings(_env_file=None)
    started = time.perf_counter()
    dataset = load_sample(n_loans)
    figures: dict[str, Any] = {
        "loans": n_loans,
        "interactions": len(dataset.interactions),
        "generate_s": time.perf_counter() - started,
        "peak_after_generate_gib": peak_gib(),
    }
    started = time.perf_counter()
    registry.default_model(settings).fit(dataset)
    figures["fit_s"] = time.perf_counter() - started
    figures["peak_after_fit_gib"] = peak_gib()
    started = time.perf_counter()
    split = temporal_split(dataset, test_share=0.1)
    comparison = compare_models(
        {"hybrid": registry.default_model(settings)}, split, k=10, seed=settings.seed
    )
    figures["train_evaluate_s"] = time.perf_counter() - started
    figures["peak_gib"] = peak_gib()
    table = comparison.table()
    figures["fit_split_s"] = comparison.fit_seconds
    figures["recommend_s"] = comparison.recommend_seconds
    figures["ndcg@10"] = table["ndcg@10"].to_dict()
    figures["test_readers"] = int(table["readers"].iloc[0])
    return figures


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
        print(f"{n_loans:,} loans: generating, fitting, evaluating ...", flush=True)
        figures = run_isolated(n_loans)
        results.append(figures)
        fits = ", ".join(f"{m} {s:.0f} s" for m, s in figures["fit_split_s"].items())
        recs = ", ".join(f"{m} {s:.0f} s" for m, s in figures["recommend_s"].items())
        ndcg = ", ".join(f"{m} {v:.4f}" for m, v in figures["ndcg@10"].items())
        within = figures["train_evaluate_s"] < TARGET_SECONDS and figures["peak_gib"] < TARGET_GIB
        verdict = "met" if within else "NOT met"
        print(
            f"  {figures['interactions']:,} interactions (with renewals, holds, views); "
            f"generated in {figures['generate_s']:.0f} s\n"
            f"  default model fit on all data: {figures['fit_s']:.1f} s; peak RSS "
            f"{figures['peak_after_fit_gib']:.2f} GiB ({figures['peak_after_generate_gib']:.2f} "
            f"GiB after generation)\n"
            f"  train + evaluate (temporal 10%, {figures['test_readers']:,} test readers): "
            f"{figures['train_evaluate_s']:.0f} s, peak RSS {figures['peak_gib']:.2f} GiB "
            f"(targets < {TARGET_SECONDS:.0f} s, < {TARGET_GIB:.0f} GiB: {verdict})\n"
            f"    fit: {fits}; recommend: {recs}\n    ndcg@10: {ndcg}",
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
