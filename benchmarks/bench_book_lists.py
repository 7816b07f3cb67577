"""Catalog pages' lists (issue 28) on the real loan logs in ../shared/data (skipped if absent).

On four rolling-origin cuts of each log (the first two to develop on, the last two to confirm),
each test reader looks at the page of the book they borrowed last before the cut, and at a
session of their last three books; the lists are scored with NDCG@10 (hits by work) against the
new books they borrowed after the cut. The served lists (the list pipeline over the library's
default model) stand beside the baselines computed in the same run: co-borrowing counts with and
without the k rule, ALS and BM25 item-KNN neighbours among books at least k readers borrowed,
and a catalog-only list (`recsys.evaluation.book_pages`).

Targets: the served per-book list at least 1.25 x the best baseline that obeys the k rule, at
least 1.0 x plain co-borrowing counts, and session lists at least 1.1 x the per-book list of the
session's last book.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_book_lists``; one dataset:
``.venv/bin/python -m benchmarks.bench_book_lists lib-sibgmu``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from benchmarks.bench_quality import load_sibgmu, load_swiss
from recsys.config import Settings
from recsys.evaluation.book_pages import SERVED, compare_book_lists, page_model
from recsys.evaluation.book_pages_report import report_text

DATASETS = {"swiss-library-loans": load_swiss, "lib-sibgmu": load_sibgmu}


def main(names: Sequence[str] = ()) -> None:
    settings = Settings(_env_file=None)
    for name, load in DATASETS.items():
        if names and name not in names:
            continue
        dataset = load()
        if dataset is None:
            print(f"{name}: skipped, not found")
            continue
        started = time.perf_counter()
        comparison = compare_book_lists(
            dataset,
            {SERVED: lambda: page_model(settings)},
            k=10,
            min_readers=settings.min_pair_support,
            seed=settings.seed,
            progress=lambda line: print("  " + line, flush=True),
        )
        print(
            f"{name}: {len(dataset.interactions):,} interactions, k = {settings.min_pair_support}"
        )
        print(report_text(comparison, SERVED))
        print(f"{name}: {time.perf_counter() - started:.0f} s\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
