"""Does learning from readers' feedback lift the default model's quality? (issue 23)

A generated library whose readers give feedback (`SampleConfig.feedback_share`; the generator
draws it from the same tastes as the loans: liked loans, books of their taste read elsewhere,
popular books outside their subjects dismissed) is cut in time like the nightly's holdout: the
moment before which 90 % of the loan events fall. Everything before the cut trains; after it,
each test reader's targets are the books new to them that they borrowed, said they read or liked
(*held-out feedback*), and the books they dismissed.

The default model (`registry.default_model`) is fitted three ways on the same training part:
without the feedback, with the positive feedback only, and with all of it (the dismissals as the
hybrid's negative signal). Every list is filtered as the list pipeline filters it for every
model, whatever it learnt: books the reader dismissed before the cut (every record of their
work) never show. Printed: NDCG@10 on the later loans, on the later positive feedback and on
both, how many lists hold a book the reader dismisses later (lower is better), and each
variant's NDCG@10 over the first's with a paired bootstrap 90 % interval over the test readers
(`recsys.evaluation.rolling.bootstrap_ratio`): an interval above 1 is a lift beyond the noise of
which readers happen to be tested.

Choices about feedback were made on the development library (seed `DEVELOPMENT_SEED`); the figure
to quote is the report library's (seed `REPORT_SEED`), measured once.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks bench_feedback``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.data.works import work_map, works_of
from recsys.evaluation import metrics as M
from recsys.evaluation.evaluate import recommend_in_batches
from recsys.evaluation.rolling import bootstrap_ratio
from recsys.models import registry
from recsys.sample import SampleConfig, SampleLibrary, generate_library

K = 10
SAMPLE_LOANS = 50_000
FEEDBACK_SHARE = 0.3
TEST_SHARE = 0.1
DEVELOPMENT_SEED = 7
REPORT_SEED = 42
#: Extra suggestions asked for, so that k remain once the dismissed books are filtered out.
EXTRA = 40
VARIANTS = {
    "loans only": (),
    "+ read and liked": Feedback.POSITIVE,
    "+ all feedback": Feedback.ALL,
}
#: The targets whose NDCG@10 each variant compares with the first variant's.
COMPARED = ("read, liked", "both")


def interactions(library: SampleLibrary) -> pd.DataFrame:
    """Loans, logged-in views and feedback (the event is the feedback's kind)."""
    views = library.views.dropna(subset=[C.READER_ID]).assign(**{C.EVENT: Events.VIEW})
    parts = (
        (library.loans, C.EVENT, C.BORROWED_AT),
        (views, C.EVENT, C.VIEWED_AT),
        (library.feedback, C.FEEDBACK_KIND, C.GIVEN_AT),
    )
    return pd.concat(
        [
            pd.DataFrame(
                {
                    C.READER_ID: frame[C.READER_ID].astype(str),
                    C.BOOK_ID: frame[C.BOOK_ID].astype(str),
                    C.EVENT: frame[event].astype(str),
                    C.TIMESTAMP: frame[at],
                }
            )
            for frame, event, at in parts
        ],
        ignore_index=True,
    )


def measure(seed: int, settings: Settings) -> pd.DataFrame:
    """One library: the table of every variant (see the module docstring)."""
    library = generate_library(
        SampleConfig(n_loans=SAMPLE_LOANS, seed=seed, feedback_share=FEEDBACK_SHARE)
    )
    frame = interactions(library)
    loan_rows = frame[C.EVENT].isin(Events.LOAN_EVENTS)
    cut = frame.loc[loan_rows, C.TIMESTAMP].quantile(1 - TEST_SHARE)
    train, later = frame.loc[frame[C.TIMESTAMP] < cut], frame.loc[frame[C.TIMESTAMP] >= cut]
    works = work_map(library.catalog)
    known = set(_keys(train[train[C.EVENT] != Feedback.NOT_INTERESTED], works))
    dismissed_before = set(_keys(train[train[C.EVENT] == Feedback.NOT_INTERESTED], works))
    readers = set(train[C.READER_ID])
    new = ~np.isin(_keys(later, works), list(known))
    later = later[later[C.READER_ID].isin(readers).to_numpy() & new]
    targets = {
        "loans": later[later[C.EVENT].isin(Events.LOAN_EVENTS)],
        "read, liked": later[later[C.EVENT].isin(Feedback.POSITIVE)],
    }
    targets["both"] = pd.concat(targets.values())
    dismissed_later = later[later[C.EVENT] == Feedback.NOT_INTERESTED]
    test_readers = sorted(set(targets["both"][C.READER_ID]))
    print(
        f"seed {seed}: {len(frame):,} interactions ({len(library.feedback):,} feedback from "
        f"{library.feedback[C.READER_ID].nunique():,} readers); cut {cut:%Y-%m-%d}; "
        f"{len(test_readers):,} test readers, targets: "
        + ", ".join(f"{name} {len(rows):,}" for name, rows in targets.items())
        + f", dismissed later {len(dismissed_later):,}",
        flush=True,
    )
    rows = {}
    per_reader: dict[str, dict[str, np.ndarray]] = {}
    for name, kinds in VARIANTS.items():
        feedback = train[C.EVENT].isin(Feedback.ALL)
        kept = train.loc[~feedback | train[C.EVENT].isin(kinds)]
        dataset = Dataset.from_interactions(
            kept, catalog=library.catalog, holdings=library.holdings
        )
        started = time.perf_counter()
        model = registry.default_model(settings).fit_for_reader_lists(dataset)
        lists = recommend_in_batches(model, test_readers, k=K + EXTRA)
        lists = M.top_k(lists.loc[~np.isin(_keys(lists, works), list(dismissed_before))], K)
        per_reader[name] = {
            target: M.ranking_metrics(lists, relevant, k=K)["ndcg"].to_numpy()
            for target, relevant in targets.items()
        }
        row: dict[str, float | str] = {
            f"ndcg@{K} {target}": float(ndcg.mean()) for target, ndcg in per_reader[name].items()
        }
        later_keys = list(set(_keys(dismissed_later, works)))
        holding = lists.loc[np.isin(_keys(lists, works), later_keys), C.READER_ID].nunique()
        row["lists holding a later dismissal"] = holding / max(len(test_readers), 1)
        row["fit s"] = time.perf_counter() - started
        baseline = per_reader[next(iter(VARIANTS))]
        for target in COMPARED:
            ratio, low, high = bootstrap_ratio(per_reader[name][target], baseline[target])
            row[f"x ndcg {target} [90 %]"] = f"{ratio:.3f} [{low:.3f}, {high:.3f}]"
        rows[name] = row
    return pd.DataFrame(rows).T


def _keys(rows: pd.DataFrame, works: pd.Series) -> np.ndarray:
    """A ``reader|work`` key per row: a reader's book counts by its work."""
    readers = rows[C.READER_ID].astype(str).to_numpy(dtype=object)
    return readers + "|" + works_of(rows[C.BOOK_ID], works).to_numpy(dtype=object)


def main() -> None:
    settings = Settings(_env_file=None)
    for label, seed in (("development", DEVELOPMENT_SEED), ("report", REPORT_SEED)):
        print(f"{label} library:", flush=True)
        table = measure(seed, settings)
        print(table.to_string(float_format=lambda v: f"{v:.4f}"), flush=True)


if __name__ == "__main__":
    main()
