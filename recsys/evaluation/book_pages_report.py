"""The catalog pages' comparison in words and tables, for `recsys evaluate --book-lists` and
the bench: per-cut figures, means over development and confirmation cuts, and the targets of
issue 28 as ratios with their bootstrap intervals."""

from __future__ import annotations

import pandas as pd

from recsys.evaluation.book_pages import (
    CO_BORROWING,
    LAST_BOOK,
    PAGE,
    SESSION,
    BookListComparison,
)
from recsys.evaluation.rolling import CONFIRMATION, DEVELOPMENT

#: A served per-book list against the best baseline that obeys the k rule.
PAGE_TARGET = 1.25
#: ... against plain co-borrowing counts (the rule should cost nothing measurable).
UNTHRESHOLDED_TARGET = 1.0
#: A session list against the per-book list of the session's last book.
SESSION_TARGET = 1.1


def means_table(comparison: BookListComparison) -> pd.DataFrame:
    """One row per method: NDCG@k of page and session lists, mean over all cuts and over the
    development and confirmation cuts apart."""
    columns = {}
    for label, role in (("all", None), (DEVELOPMENT, DEVELOPMENT), (CONFIRMATION, CONFIRMATION)):
        means = comparison.means(role)
        if means.empty:
            continue
        columns[f"{PAGE} ({label})"] = means[PAGE]
        columns[f"{SESSION} ({label})"] = means[SESSION]
    return pd.DataFrame(columns).loc[comparison.methods]


def verdict_lines(comparison: BookListComparison, served: str) -> list[str]:
    """The ratios the issue sets targets for, each with its 90% interval over readers."""
    best = comparison.best_private_baseline()
    checks = (
        (f"{served} page / best k-rule baseline ({best})", (served, best, PAGE), PAGE_TARGET),
        (
            f"{served} page / {CO_BORROWING}",
            (served, CO_BORROWING, PAGE),
            UNTHRESHOLDED_TARGET,
        ),
        (
            f"{served} session / its page list of the session's last book",
            (served, LAST_BOOK, SESSION),
            SESSION_TARGET,
        ),
    )
    lines = []
    for label, (method, versus, kind), target in checks:
        ratio, low, high = comparison.ratio(method, versus, kind)
        met = "met" if ratio >= target else "NOT met"
        lines.append(
            f"{label}: {ratio:.2f} (90% interval {low:.2f}-{high:.2f}; target >= {target}: {met})"
        )
    return lines


def report_text(comparison: BookListComparison, served: str) -> str:
    """Per-cut figures, the means and the verdict, as `recsys evaluate --book-lists` and the
    bench print them."""
    k = comparison.k
    return "\n".join(
        [
            f"NDCG@{k} per cut (page: the last book's page; session: the last books; last_book: "
            "the session readers' page list of their last book)",
            comparison.table().to_string(float_format=lambda v: f"{v:.4f}"),
            "",
            f"NDCG@{k}, mean over cuts",
            means_table(comparison).to_string(float_format=lambda v: f"{v:.4f}"),
            *verdict_lines(comparison, served),
        ]
    )
