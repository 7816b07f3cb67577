"""The nightly's lists step: what scoring every reader against the whole catalog costs.

The step (`recsys.lists.served.served_lists`) lists every known reader and every catalog book,
and its cost grows with readers times books: a consortium's wide union catalog makes each reader
dearer. This bench generates a library (`RECSYS_BENCH_LOANS`, default 400,000 loans, with
`RECSYS_BENCH_BOOKS` books, default 250,000: the generated 10M-loan library's catalog), fits the
default model as the nightly does (its tuning included), and times, on one core, the readers'
lists of a seeded sample of `RECSYS_BENCH_READERS` readers (default 2,000) and the books' lists
of as many books. It prints milliseconds per reader and per book, and the whole step's
projection on this machine's cores for the library's readers and books.

`RECSYS_BENCH_BASELINE=DIR` (a source tree of another commit, `git archive <commit> | tar -x -C
DIR`) times the same fitted model with that tree's code first, in a child process, on the same
sample: a before/after that holds on a shared machine. The model is handed over as a joblib
file, so the other commit must read this one's fitted attributes.

    RECSYS_BENCH_BASELINE=/tmp/before OPENBLAS_NUM_THREADS=1 python -m benchmarks bench_lists
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

from recsys.config import Settings
from recsys.lists.catalog import CatalogIndex
from recsys.lists.readers import ReaderLists
from recsys.lists.served import SimilarLists
from recsys.models.registry import default_model
from recsys.sample import SampleConfig, generate_library
from recsys.sample.library import library_dataset
from recsys.threads import limit_blas_threads

LOANS = int(os.environ.get("RECSYS_BENCH_LOANS", "400000"))
BOOKS = int(os.environ.get("RECSYS_BENCH_BOOKS", "250000"))
SAMPLE = int(os.environ.get("RECSYS_BENCH_READERS", "2000"))
BASELINE = os.environ.get("RECSYS_BENCH_BASELINE")


def time_lists(model_file: str, sample: int) -> dict[str, float]:
    """Seconds per reader's and per book's list of the saved model, on one core, for a seeded
    sample of each (the code that runs this decides how they are made)."""
    model, catalog, holdings = joblib.load(model_file)
    index = CatalogIndex(catalog, holdings)
    readers = ReaderLists(model, index)
    known = list(readers.index)
    rng = np.random.default_rng(0)
    chosen = [known[i] for i in rng.choice(len(known), min(sample, len(known)), replace=False)]
    started = time.perf_counter()
    readers.prepare(chosen)  # in this thread, a batch of readers at a time
    per_reader = (time.perf_counter() - started) / len(chosen)
    books = SimilarLists(model, index)
    wanted = np.sort(rng.choice(len(index), min(sample, len(index)), replace=False))
    started = time.perf_counter()
    books.precompute(wanted)
    per_book = (time.perf_counter() - started) / len(wanted)
    return {"per_reader": per_reader, "per_book": per_book, "load": os.getloadavg()[0]}


def timed_in(tree: str, model_file: str) -> dict[str, float]:
    """`time_lists` (this file's) run with the `recsys` in `tree`, in a child process."""
    # imported here: the child runs this file under `tree`, whose benchmarks may lack it
    from benchmarks.code_trees import figures_from

    script = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('bench_lists', sys.argv[3])\n"
        "bench = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(bench)\n"
        "print(json.dumps(bench.time_lists(sys.argv[1], int(sys.argv[2]))))"
    )
    return figures_from(tree, script, model_file, str(SAMPLE), __file__)


def main() -> None:
    limit_blas_threads()  # as the `recsys` CLI does
    started = time.perf_counter()
    config = SampleConfig(n_loans=LOANS, n_books=BOOKS)
    dataset = library_dataset(generate_library(config))
    print(f"generated {LOANS:,} loans, {BOOKS:,} books in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    model = default_model(Settings(_env_file=None)).fit(dataset)
    n_readers, n_books = len(model.known_readers()), len(dataset.catalog)
    print(f"fitted {model.name} ({n_readers:,} readers) in {time.perf_counter() - started:.0f} s")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        model_file = str(Path(folder) / "model.joblib")
        joblib.dump((model, dataset.catalog, dataset.holdings), model_file)
        runs = [("baseline", BASELINE)] if BASELINE else []
        runs.append(("this checkout", str(Path(__file__).resolve().parent.parent)))
        print(
            f"\n| code | ms per reader | ms per book | lists step on {cores} cores "
            f"({n_readers:,} readers, {n_books:,} books) | load |"
        )
        print("|---|---:|---:|---:|---:|")
        for name, tree in runs:
            figures = timed_in(tree, model_file)
            step = (figures["per_reader"] * n_readers + figures["per_book"] * n_books) / cores
            print(
                f"| {name} | {1000 * figures['per_reader']:.2f} | "
                f"{1000 * figures['per_book']:.2f} | {step:,.0f} s | {figures['load']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
