"""A few readers' recent loans beside their suggestions and the "because you borrowed" reasons.

Readers are shown as "Reader A", "Reader B", ...: a panel never holds a reader id, raw or
pseudonymized, so a report can be read and forwarded without identifying anyone. Only readers
who may contribute to training (consent) can be chosen, since they are the only ones in the data.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from recsys.columns import SUBJECT_SEPARATOR, Events
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.display import readable
from recsys.evaluation import metrics as M
from recsys.evaluation.review import ReviewContext, reader_main_subject
from recsys.models.base import Recommender, check_k

MAX_PANELS = len(string.ascii_uppercase)
NO_RECORD = "(no catalog record)"
NO_REASON = "popular with similar readers"


@dataclass(frozen=True)
class ReaderPanel:
    """One reader, pseudonymous in the report: a label, a profile in words and three tables."""

    label: str
    profile: str
    recent_loans: pd.DataFrame
    suggestions: pd.DataFrame
    subjects: pd.DataFrame

    def _repr_html_(self) -> str:
        """Loans and suggestions side by side in a notebook or the HTML report."""
        return (
            f"<h3>{escape(self.label)}</h3><p>{escape(self.profile)}</p>"
            "<div style='display:flex; gap:2em; align-items:flex-start; flex-wrap:wrap'>"
            f"<div><h4>Recent loans</h4>{self.recent_loans.to_html(index=False)}</div>"
            f"<div><h4>Suggestions</h4>{self.suggestions.to_html(index=False)}</div></div>"
        )


def reader_segments(dataset: Dataset) -> pd.DataFrame:
    """Per reader: loans, activity, main branch, main audience and main subject."""
    segments = M.reader_segments(dataset)
    return segments.join(reader_main_subject(dataset))


def choose_readers(
    segments: pd.DataFrame,
    *,
    n: int = 3,
    by: str | None = None,
    value: str | None = None,
    min_loans: int = 3,
    seed: int | None = 42,
) -> list[str]:
    """Pick `n` readers with at least `min_loans` loans, at random (reproducible by `seed`).

    With `by` and `value`, all come from that segment; with `by` alone, one from each value of
    the segment in turn (light, medium, heavy; or the largest branches first).
    """
    if not 1 <= n <= MAX_PANELS:
        raise ValueError(f"n must be between 1 and {MAX_PANELS}; got {n}")
    if by is not None and by not in segments.columns:
        choices = [c for c in segments.columns if c != "train_loans"]
        raise ValueError(f"by must be one of {choices}; got {by!r}")
    if value is not None and by is None:
        raise ValueError(f"value {value!r} needs by (the segment it belongs to)")
    eligible = segments.loc[segments["train_loans"] >= min_loans].sort_index()
    rng = np.random.default_rng(seed)
    if by is None:
        return _sample(eligible.index, n, rng)
    if value is not None:
        pool = eligible.index[eligible[by].astype(str) == str(value)]
        if len(pool) == 0:
            values = sorted(eligible[by].astype(str).unique())
            raise ValueError(
                f"no reader with at least {min_loans} loans has {by} = {value!r}; "
                f"choose from {values}"
            )
        return _sample(pool, n, rng)
    groups = _group_order(eligible[by].astype(str), by)
    pools = {g: _sample(eligible.index[eligible[by].astype(str) == g], n, rng) for g in groups}
    chosen: list[str] = []
    for turn in range(n):
        for group in groups:
            if turn < len(pools[group]) and len(chosen) < n:
                chosen.append(pools[group][turn])
    return chosen


def _sample(pool: pd.Index, n: int, rng: np.random.Generator) -> list[str]:
    picked = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return [str(pool[i]) for i in picked]


def _group_order(values: pd.Series, by: str) -> list[str]:
    if by == "activity":
        return [b for b in M.ACTIVITY_BUCKETS if (values == b).any()]
    return values.value_counts().index.astype(str).tolist()


def reader_panels(
    context: ReviewContext,
    *,
    n: int = 3,
    by: str | None = None,
    value: str | None = None,
    recent: int = 5,
    reasons: int = 2,
    min_loans: int = 3,
    seed: int | None = None,
) -> list[ReaderPanel]:
    """Panels for `n` readers chosen by `choose_readers` (seed defaults to the settings' seed).

    Suggestions are those of the run's model as served (the lists readers see), `context.k`
    long; reasons are up to `reasons` of the reader's own books that led to each suggestion.
    """
    dataset = context.dataset
    segments = reader_segments(dataset)
    readers = choose_readers(
        segments,
        n=n,
        by=by,
        value=value,
        min_loans=min_loans,
        seed=context.settings.seed if seed is None else seed,
    )
    return build_panels(
        context.bundle.model,
        dataset,
        segments,
        readers,
        k=context.k,
        recent=recent,
        reasons=reasons,
    )


def build_panels(
    model: Recommender,
    dataset: Dataset,
    segments: pd.DataFrame,
    readers: list[str],
    *,
    k: int = 10,
    recent: int = 5,
    reasons: int = 2,
) -> list[ReaderPanel]:
    """One panel per reader in `readers` (labelled A, B, ... in order)."""
    if len(readers) > MAX_PANELS:
        raise ValueError(f"readers holds {len(readers)} readers; at most {MAX_PANELS} panels")
    k, recent, reasons = check_k(k), check_k(recent), check_k(reasons)
    catalog = readable(
        dataset.catalog.assign(**{C.BOOK_ID: dataset.catalog[C.BOOK_ID].astype(str)})
    )
    catalog = catalog.drop_duplicates(C.BOOK_ID).set_index(C.BOOK_ID)
    titles = catalog[C.TITLE] if C.TITLE in catalog else pd.Series(dtype=object)
    recs = model.recommend(readers, k=k, exclude_seen=True)
    interactions = dataset.interactions
    loans = interactions.loc[interactions[C.EVENT].isin(Events.LOAN_EVENTS)]
    panels = []
    for letter, reader in zip(string.ascii_uppercase, readers, strict=False):
        history = loans.loc[loans[C.READER_ID].astype(str) == reader]
        books = recs.loc[recs[C.READER_ID].astype(str) == reader].sort_values(C.RANK)
        book_ids = books[C.BOOK_ID].astype(str).tolist()
        because = model.explain(reader, book_ids, n=reasons)
        panels.append(
            ReaderPanel(
                label=f"Reader {letter}",
                profile=_profile(segments, reader),
                recent_loans=_recent(history, catalog, recent),
                suggestions=_suggestions(book_ids, because, catalog, titles),
                subjects=_subjects(history[C.BOOK_ID].astype(str).tolist(), book_ids, catalog),
            )
        )
    return panels


def _profile(segments: pd.DataFrame, reader: str) -> str:
    def at(column: str) -> str:
        return str(segments.at[reader, column])

    return (
        f"{at('activity')} reader with {at('train_loans')} loans, renewals and holds; "
        f"borrows mostly at {at('branch')}, mostly {at('audience')} books; "
        f"most borrowed subject: {at('subject')}"
    )


def _field(catalog: pd.DataFrame, book_ids: list[str], column: str, missing: str) -> list[str]:
    if column not in catalog.columns:
        return [missing] * len(book_ids)
    values = catalog[column].reindex(book_ids)
    return [missing if v is None or v != v else str(v) for v in values]  # v != v: NaN


def _recent(history: pd.DataFrame, catalog: pd.DataFrame, recent: int) -> pd.DataFrame:
    newest = history.sort_values(C.TIMESTAMP, ascending=False, kind="stable")
    newest = newest.drop_duplicates(C.BOOK_ID).head(recent)
    book_ids = newest[C.BOOK_ID].astype(str).tolist()
    return pd.DataFrame(
        {
            "month": newest[C.TIMESTAMP].dt.strftime("%Y-%m").tolist(),
            "how": newest[C.EVENT].astype(str).tolist(),
            "title": _field(catalog, book_ids, C.TITLE, NO_RECORD),
            "author": _field(catalog, book_ids, C.AUTHOR, ""),
        }
    )


def _suggestions(
    book_ids: list[str], because: dict[str, list[str]], catalog: pd.DataFrame, titles: pd.Series
) -> pd.DataFrame:
    reasons = []
    for book in book_ids:
        own = [str(titles.get(b, NO_RECORD)) for b in because.get(book, [])]
        reasons.append("; ".join(own) if own else NO_REASON)
    return pd.DataFrame(
        {
            "rank": range(1, len(book_ids) + 1),
            "title": _field(catalog, book_ids, C.TITLE, NO_RECORD),
            "author": _field(catalog, book_ids, C.AUTHOR, ""),
            "because you borrowed": reasons,
        }
    )


def _subjects(
    borrowed: list[str], suggested: list[str], catalog: pd.DataFrame, top: int = 6
) -> pd.DataFrame:
    """Share (%) of the reader's borrowed books and of their suggestions under each subject."""
    columns = {"their loans (%)": borrowed, "their suggestions (%)": suggested}
    shares = {}
    for name, books in columns.items():
        subjects = _field(catalog, books, C.SUBJECTS, "")
        headings = pd.Series(
            [
                h.strip()
                for text in subjects
                for h in text.split(SUBJECT_SEPARATOR.strip())
                if h.strip()
            ]
        )
        shares[name] = 100.0 * headings.value_counts() / max(len(books), 1)
    table = pd.DataFrame(shares).fillna(0.0)
    order = table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    return table.loc[order].rename_axis("subject")
