"""What a served bundle costs each service worker of its own, at 1M and 10M loans, in minutes.

Issue 27 wants each worker's private memory under 1 GiB on the generated 10M-loan library.
`bench_service` measures that in the running service, but building its 10M library (ingest,
the default model's fit and the nightly's lists step for 590,000 readers) takes hours on this
machine. What grows with the library in a worker is not the model's arrays or the lists, which
every worker maps from the bundle's files (one copy in the page cache), but what each worker
builds for itself when it loads a bundle: the catalog's index (titles, authors, subjects,
holdings) and the model's index of its readers and books. This bench measures exactly that, on
the same generated library with pseudonymized readers, with a model that is quick to fit: the
popularity model, which keeps the same reader and book indexes as the default hybrid (whose
parts' arrays are all mapped too), and lists that give every reader and book the same popular
books (the lists are mapped, so their content costs a worker nothing of its own).

Per size (`RECSYS_BENCH_LOANS`, default 1M and 10M loans), a child process loads the published
bundle as the service's `ModelStore` does and prints how much anonymous memory (private to the
worker: no file maps it) the load added, as the load leaves it. `RECSYS_BENCH_BASELINE=DIR` (a
source tree of another commit, `git archive <commit> | tar -x -C DIR`) loads it with that code
first, on the same bundle: a before/after.

    RECSYS_BENCH_BASELINE=/tmp/before python -m benchmarks bench_worker_memory
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.code_trees import figures_from
from recsys import artifacts
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.lists import readers as reader_lists
from recsys.lists import served
from recsys.lists.catalog import CatalogIndex
from recsys.models.registry import build_model
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, generate_library
from recsys.sample.library import library_dataset

SIZES = tuple(int(s) for s in os.environ.get("RECSYS_BENCH_LOANS", "1000000,10000000").split(","))
BASELINE = os.environ.get("RECSYS_BENCH_BASELINE")
PSEUDONYM_KEY = b"b" * 64
REPO = Path(__file__).resolve().parent.parent

#: Loads the published bundle of `argv[1]` with the `recsys` on `PYTHONPATH`, as its service does.
LOAD = """
import json, sys
from pathlib import Path
from recsys.service.model_store import ModelStore
def anonymous():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
before = anonymous()
store = ModelStore(Path(sys.argv[1]), None, min_readers=5)
outcome = store.refresh()
assert outcome.outcome == "swapped", outcome
print(json.dumps({"imports": before, "bundle": anonymous() - before}))
"""


def publish_bundle(n_loans: int, models_dir: Path) -> tuple[int, int]:
    """Generate the library, fit the popularity model on its pseudonymized loans and publish a
    bundle with lists; returns its readers and books."""
    dataset = library_dataset(generate_library(SampleConfig(n_loans=n_loans)))
    pseudonyms = Pseudonymizer(PSEUDONYM_KEY).pseudonymize_series(dataset.interactions[C.READER_ID])
    interactions = dataset.interactions.assign(**{C.READER_ID: pseudonyms})
    dataset = Dataset.from_interactions(interactions, dataset.catalog, dataset.holdings)
    model = build_model("popularity").fit(dataset)
    index = CatalogIndex(dataset.catalog, dataset.holdings)
    readers = model.known_readers()
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        models_dir,
        run_id,
        model,
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=0,
        lists=same_lists(readers, index, model.book_popularity(index.book_ids.tolist())),
    )
    artifacts.publish(models_dir, run_id, latest_erasure=0)
    return len(readers), len(index)


def same_lists(
    readers: np.ndarray, index: CatalogIndex, popularity: np.ndarray
) -> dict[str, np.ndarray]:
    """Every reader's and book's list: the most popular books, made for these readers and
    this catalog, with the catalog's records (the arrays a bundle carries)."""
    depth = reader_lists.READER_LIST_DEPTH
    top = np.argsort(-np.asarray(popularity), kind="stable")[: depth + 1].astype(np.int32)
    scores = np.linspace(1.0, 0.01, depth, dtype=np.float32)
    n_readers, n_books = len(readers), len(index)
    return {
        reader_lists.POSITIONS: np.tile(top[:depth], (n_readers, 1)),
        reader_lists.SCORES: np.tile(scores, (n_readers, 1)),
        reader_lists.COUNTS: np.full(n_readers, depth, dtype=np.int32),
        reader_lists.READERS_SHA256: reader_lists.ids_sha256(readers),
        reader_lists.CATALOG_SHA256: index.book_ids_sha256,
        served.BOOK_POSITIONS: np.tile(top[1:], (n_books, 1)),
        served.BOOK_SCORES: np.tile(scores[: served.BOOK_LIST_DEPTH], (n_books, 1)),
        served.BOOK_COMPLETE: np.zeros(n_books, dtype=bool),
        **index.records.arrays(),
    }


def loaded_by(tree: str, models_dir: Path) -> dict[str, float]:
    """MiB of anonymous memory after the imports, and what loading the bundle added, with the
    `recsys` in `tree`, in a child process."""
    return figures_from(tree, LOAD, str(models_dir))


def main() -> None:
    runs = [("baseline", BASELINE)] if BASELINE else []
    runs.append(("this checkout", str(REPO)))
    rows = []
    for n_loans in SIZES:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            models_dir = Path(folder) / "models"
            n_readers, n_books = publish_bundle(n_loans, models_dir)
            print(
                f"{n_loans:,} loans: {n_readers:,} readers, {n_books:,} books, bundle published "
                f"in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            for name, tree in runs:
                figures = loaded_by(tree, models_dir)
                rows.append((n_loans, name, figures, os.getloadavg()[0]))
    print("\n| loans | code | MiB after imports | MiB the loaded bundle adds | load |")
    print("|---:|---|---:|---:|---:|")
    for n_loans, name, figures, load in rows:
        print(
            f"| {n_loans:,} | {name} | {figures['imports']:,.0f} | {figures['bundle']:,.0f} | "
            f"{load:.1f} |"
        )


if __name__ == "__main__":
    main()
