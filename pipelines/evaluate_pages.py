"""`recsys evaluate --book-lists`: the catalog pages' lists (per book and per session) of the
library's default model on rolling-origin cuts of the stored loans, beside the baselines
(`recsys.evaluation.book_pages`). Prints the figures and writes them as CSV."""

from __future__ import annotations

import logging
from pathlib import Path

from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.evaluation.book_pages import SERVED, compare_book_lists, page_model
from recsys.evaluation.book_pages_report import report_text
from recsys.exceptions import RecsysError

log = logging.getLogger(__name__)


def run_book_lists(dataset: Dataset, settings: Settings, *, k: int, cuts: int, out: Path) -> int:
    """Compare the served per-book and session lists with the baselines; write ``book_lists.csv``
    into `out`."""
    try:
        comparison = compare_book_lists(
            dataset,
            {SERVED: lambda: page_model(settings)},
            k=k,
            cuts=cuts,
            confirming=max(1, cuts // 2),
            min_readers=settings.min_pair_support,
            seed=settings.seed,
            progress=log.info,
        )
    except ValueError as error:
        raise RecsysError(f"--book-lists: {error}") from None
    print(report_text(comparison, SERVED))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "book_lists.csv"
    comparison.table().to_csv(path)
    print(f"figures: {path}")
    return 0
