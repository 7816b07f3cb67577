"""Quality target of issue 3 on real loan logs in ../shared/data (skipped, with a note, if absent).

On the same temporal holdout (the last 10 % of loans by time) and in one run: the default hybrid,
plain implicit ALS with its defaults, ALS tuned by `recsys.models.search` on a validation split
carved from the training data only, BM25 item-KNN and popularity. The target: hybrid NDCG@10 at
least 1.25 x the best of the others, with catalog coverage no lower than tuned ALS. The same
defaults on every dataset.

The default hybrid chooses its blend and popularity penalty on validation data carved from the
training data only; its fixed blend (``tune_weights=False``) is shown for comparison. The same
comparison is repeated on other cuts (the last 20 %, each reader's last loan) and on a generated
library: a target that holds on one cut only is not a property of the model.

Real catalogs without ``work_id`` get the works `recsys.data.works` derives, as ingest does.
NDCG, recall and precision count a hit by work (any record of a suggested work borrowed next);
``record_ndcg`` counts only the very record. On the target cut, the default model is also fitted
on the records alone (``work_id`` dropped) to show what grouping changes: the shares of lists
holding one work twice and suggesting a work the reader already borrowed, measured by work.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_quality``; one dataset:
``.venv/bin/python -m benchmarks.bench_quality swiss-library-loans``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.data.work_evidence import author_key, title_key
from recsys.data.works import derive_work_ids, work_map
from recsys.evaluation import metrics as M
from recsys.evaluation.evaluate import (
    ComparisonResult,
    compare_models,
    evaluate_recommendations,
    recommend_in_batches,
)
from recsys.evaluation.splits import Split, leave_last_k_out, temporal_split
from recsys.models import registry
from recsys.models.base import Recommender
from recsys.models.search import search
from recsys.sample import SampleConfig, generate_library

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
K = 10
TEST_SHARE = 0.1
TARGET_RATIO = 1.25
HYBRID = "hybrid (default)"
HYBRID_FIXED = "hybrid (fixed blend)"
TUNED_ALS = "als_tuned"
BASELINES = ("als_default", TUNED_ALS, "knn_bm25", "popularity")
SAMPLE_LOANS = 200_000
#: The target cut first; the others check that the defaults were not fitted to it.
CUTS: dict[str, Callable[[Dataset], Split]] = {
    "temporal 10%": lambda d: temporal_split(d, test_share=TEST_SHARE),
    "temporal 20%": lambda d: temporal_split(d, test_share=0.2),
    "leave-last-1": lambda d: leave_last_k_out(d, k=1),
}
ALS_GRID: dict[str, tuple[Any, ...]] = {
    "factors": (64, 128),
    "regularization": (0.01, 0.1),
    "alpha": (1.0, 10.0, 40.0),
    "bm25": (False, True),
}


def load_swiss(root: Path | None = None) -> Dataset | None:
    """Swiss university library loans: u, i, t (Unix seconds) and a catalog with subjects."""
    root = root or DATA / "swiss-library-loans"
    loans_path, items_path = root / "interactions_train.csv.gz", root / "items.csv.gz"
    if not (loans_path.exists() and items_path.exists()):
        return None
    loans = pd.read_csv(loans_path)
    items = pd.read_csv(items_path)
    interactions = pd.DataFrame(
        {
            C.READER_ID: loans["u"].astype("int64").astype(str),
            C.BOOK_ID: loans["i"].astype("int64").astype(str),
            C.EVENT: Events.LOAN,
            C.TIMESTAMP: pd.to_datetime(loans["t"].astype("int64"), unit="s", utc=True),
        }
    )
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: items["i"].astype("int64").astype(str),
            C.TITLE: items["Title"],
            C.AUTHOR: items["Author"],
            C.SUBJECTS: items["Subjects"],
            C.ISBN: items["ISBN Valid"],
        }
    )
    catalog[C.WORK_ID] = derive_work_ids(catalog)
    return Dataset.from_interactions(interactions, catalog=catalog)


def load_sibgmu(root: Path | None = None) -> Dataset | None:
    """Lib-SibGMU (test split only): encrypted reader ids, call-number book ids, loan dates.

    Book ids are kept as published (call number + inventory number); titles come from
    ``name_book.csv``. There are no subjects, so subject diversity is not defined there.
    """
    root = root or DATA / "lib-sibgmu"
    loans_path, names_path = root / "rslib_test.csv.gz", root / "name_book.csv.gz"
    if not loans_path.exists():
        return None
    loans = pd.read_csv(loans_path, index_col=0)
    interactions = pd.DataFrame(
        {
            C.READER_ID: loans["id"].astype(str),
            C.BOOK_ID: loans["id_book"].astype(str),
            C.EVENT: Events.LOAN,
            C.TIMESTAMP: pd.to_datetime(loans["date"], utc=True),
        }
    )
    catalog = None
    if names_path.exists():
        names = pd.read_csv(names_path).dropna().drop_duplicates("id_book")
        catalog = pd.DataFrame(
            {C.BOOK_ID: names["id_book"].astype(str), C.TITLE: names["name_book"]}
        )
        catalog[C.WORK_ID] = derive_work_ids(catalog)
    return Dataset.from_interactions(interactions, catalog=catalog)


DATASETS: dict[str, Callable[[], Dataset | None]] = {
    "swiss-library-loans": load_swiss,
    "lib-sibgmu": load_sibgmu,
    f"generated-{SAMPLE_LOANS // 1000}k": lambda: load_sample(SAMPLE_LOANS),
}


def load_sample(n_loans: int) -> Dataset:
    """A generated library (`recsys.sample`): loans, renewals, holds and logged-in views."""
    library = generate_library(SampleConfig(n_loans=n_loans))
    loans = library.loans
    views = library.views.dropna(subset=[C.READER_ID])
    interactions = pd.concat(
        [
            pd.DataFrame(
                {
                    C.READER_ID: loans[C.READER_ID].astype(str),
                    C.BOOK_ID: loans[C.BOOK_ID].astype(str),
                    C.EVENT: loans[C.EVENT].astype(str),
                    C.TIMESTAMP: loans[C.BORROWED_AT],
                    C.LIBRARY_ID: loans[C.LIBRARY_ID].astype(str),
                }
            ),
            pd.DataFrame(
                {
                    C.READER_ID: views[C.READER_ID].astype(str),
                    C.BOOK_ID: views[C.BOOK_ID].astype(str),
                    C.EVENT: Events.VIEW,
                    C.TIMESTAMP: views[C.VIEWED_AT],
                }
            ),
        ],
        ignore_index=True,
    )
    return Dataset.from_interactions(
        interactions, catalog=library.catalog, holdings=library.holdings
    )


def tuned_als(split: Split, settings: Settings) -> tuple[Recommender, str]:
    """ALS tuned by `recsys.models.search` on validation data carved from ``split.train`` only."""
    started = time.perf_counter()
    result = search(
        "als",
        split.train,
        grid=ALS_GRID,
        base_params={"random_state": settings.seed},
        budget_seconds=settings.search_budget_seconds,
        k=K,
        test_share=TEST_SHARE,
        seed=settings.seed,
    )
    note = (
        f"ALS search on the validation split: {len(result.table)} of "
        f"{math.prod(map(len, ALS_GRID.values()))} points in "
        f"{time.perf_counter() - started:.0f} s, best {result.best_params} "
        f"(validation {result.metric} {result.best_score:.4f})"
    )
    return registry.create("als", **result.best_params), note


def compare(split: Split, settings: Settings, *, progress: bool) -> ComparisonResult:
    """Every model of the target on `split`, plus the hybrid that tunes its own blend."""
    als, note = tuned_als(split, settings)
    print("  " + note, flush=True)
    candidates = {
        HYBRID: registry.default_model(settings),
        HYBRID_FIXED: registry.default_model(settings).set_params(tune_weights=False),
        TUNED_ALS: als,
        "knn_bm25": registry.create("knn", similarity="bm25"),
    }
    return compare_models(
        candidates,
        split,
        k=K,
        seed=settings.seed,
        progress=(lambda line: print("  " + line, flush=True)) if progress else None,
    )


def describe(name: str, dataset: Dataset, cut: str, split: Split) -> None:
    info = split.describe()
    print(
        f"{name}, {cut}: {len(dataset.interactions):,} interactions; test {info['test_pairs']:,} "
        f"pairs of {info['test_readers']:,} readers ({info['cold_start_readers']:,} cold-start "
        f"readers not scored, {info['dropped_already_borrowed']:,} re-loans not counted)",
        flush=True,
    )


def verdict(table: pd.DataFrame, hybrid: str) -> str:
    """Ratio of `hybrid`'s NDCG@K to the best baseline, and coverage against tuned ALS."""
    ndcg = table[f"ndcg@{K}"]
    best = ndcg.loc[[m for m in BASELINES if m in ndcg.index]]
    ratio = ndcg[hybrid] / best.max()
    coverage = table.loc[hybrid, f"coverage@{K}"]
    tuned_coverage = table.loc[TUNED_ALS, f"coverage@{K}"]
    met = "met" if ratio >= TARGET_RATIO and coverage >= tuned_coverage else "NOT met"
    return (
        f"{hybrid} / best baseline ({best.idxmax()}) NDCG@{K}: {ratio:.2f} (target >= "
        f"{TARGET_RATIO}); coverage {coverage:.4f} vs tuned ALS {tuned_coverage:.4f}: "
        f"target {met}"
    )


def print_table(comparison: ComparisonResult) -> None:
    table = comparison.table()
    columns = [
        f"ndcg@{K}",
        f"recall@{K}",
        f"precision@{K}",
        f"record_ndcg@{K}",
        f"coverage@{K}",
        f"repeated_work_lists@{K}",
        f"borrowed_work_lists@{K}",
        "fit_seconds",
    ]
    order = [HYBRID, HYBRID_FIXED, *BASELINES]
    print(
        table.loc[[m for m in order if m in table.index], columns].to_string(
            float_format=lambda v: f"{v:.4f}"
        )
    )
    print(verdict(table, HYBRID))


def print_works(split: Split, comparison: ComparisonResult, settings: Settings) -> None:
    """The default model fitted on the records alone beside it fitted on works: how many lists
    hold one work twice or a work the reader already borrowed, by the work key and, as a check
    that needs no key, by title and author."""
    catalog = split.train.catalog
    works = catalog[C.WORK_ID].fillna("book:" + catalog[C.BOOK_ID].astype(str))
    if not works.duplicated().any():
        print(f"  works: each of the {len(works):,} catalog records is a work of its own")
        return
    records_only = Dataset(
        split.train.interactions, catalog.drop(columns=C.WORK_ID), split.train.holdings
    )
    model = registry.default_model(settings)
    model.fit_for_reader_lists(records_only)
    before = evaluate_recommendations(
        recommend_in_batches(model, list(split.test_readers), k=K), split, k=K
    )
    after = comparison.results[HYBRID]
    keys = {"work key": work_map(catalog), "title and author": _title_and_author(catalog)}
    print(
        f"  works: {len(works):,} catalog records in {works.nunique():,} works "
        f"({int(works.duplicated(keep=False).sum()):,} records share their work); "
        f"{HYBRID} top-{K} lists, fitted on records alone -> on works:",
        flush=True,
    )
    for name, key in keys.items():
        for label, share in (
            ("holding one work twice", lambda lists, key=key: M.repeated_work_share(lists, key)),
            (
                "suggesting a work already borrowed",
                lambda lists, key=key: M.borrowed_work_share(lists, split.train, key),
            ),
        ):
            print(
                f"    {label} (by {name}): {share(before.recommendations):.1%} -> "
                f"{share(after.recommendations):.1%}"
            )
    for metric in ("ndcg", "record_ndcg"):
        key = f"{metric}@{K}"
        print(f"    {key}: {before.summary[key]:.4f} -> {after.summary[key]:.4f}")


def _title_and_author(catalog: pd.DataFrame) -> pd.Series:
    """Book id -> its folded title and author: two records alike here look like one book."""
    same = catalog[C.TITLE].map(title_key) + "|" + catalog[C.AUTHOR].map(author_key)
    return pd.Series(same.to_numpy(), index=catalog[C.BOOK_ID].astype(str).to_numpy())


def main(names: Sequence[str] = ()) -> None:
    settings = Settings(_env_file=None)
    for name, load in DATASETS.items():
        if names and name not in names:
            continue
        dataset = load()
        if dataset is None:
            print(f"{name}: skipped, not found under {DATA}")
            continue
        for cut, make_split in CUTS.items():
            split = make_split(dataset)
            describe(name, dataset, cut, split)
            target = cut == next(iter(CUTS))
            comparison = compare(split, settings, progress=target)
            print_table(comparison)
            if target:
                print_works(split, comparison, settings)
            print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
