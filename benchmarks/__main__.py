"""Run every benchmark in turn (`python -m benchmarks [NAME ...]`), printing figures, not asserting.

Each benchmark module exposes ``main()``; one that fails is reported and the others still run.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

BENCHMARKS = (
    "bench_ingest",
    "bench_quality",
    "bench_rolling",
    "bench_book_lists",
    "bench_training",
    "bench_lists",
    "bench_scale",
    "bench_spark_choice",
    "bench_service",
    "bench_worker_memory",
    "bench_nightly",
    "bench_volume",
    "bench_widget",
    "bench_reader_share",
    "bench_feedback",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception:  # a broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - started:.1f} s ===", flush=True)
    if failed:
        print(f"\nfailed benchmarks: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
