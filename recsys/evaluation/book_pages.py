"""How good is a catalog page's list ("readers who borrowed this also borrowed")?

On each rolling-origin cut (`recsys.evaluation.rolling`), every test reader "looks at" the page
of the book they borrowed last before the cut, and at a session of their last `SESSION_BOOKS`
books (readers with at least two). The page's list and the session's list are scored with
NDCG@k (hits by work) against the new books the reader borrowed after the cut. The lists are
anonymous, as on a catalog page: they know the page's books, not the reader.

The served models' lists come from the list pipeline itself (`recsys.lists.pipeline.book_list`
and `session_list`, padding included). Beside them, in the same run and on the same cut, the
baselines of `recsys.models.book_neighbours`: co-borrowing counts with and without the k rule,
ALS and BM25 item-KNN neighbours among books at least k readers borrowed, and a catalog-only
list. A baseline's page list is its book's best-scored books, one record per work, padded with
the most borrowed books; its session list sums the session books' scores, each scaled by its
best score.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.curation.rules import no_rules
from recsys.data.dataset import Dataset
from recsys.data.works import work_map, works_of
from recsys.evaluation.evaluate import ReaderLists, compare_models
from recsys.evaluation.rolling import Cut, bootstrap_ratio, rolling_cuts
from recsys.evaluation.splits import Split
from recsys.lists import pipeline
from recsys.lists.query import ListQuery
from recsys.lists.served import build_served
from recsys.models import book_neighbours as N
from recsys.models import registry
from recsys.models.base import Recommender
from recsys.models.matrix import IdMap

#: A session is the reader's last few distinct books before the cut (at least two).
SESSION_BOOKS = 3
#: Scored books kept per page for a baseline's session sums.
LIST_DEPTH = 50
SCORE_BATCH = 256
PAGE = "page"
SESSION = "session"
#: The session readers' page list of their session's last book (what a session must beat).
LAST_BOOK = "last_book"
#: The label of the default model's per-book list, as the service makes it.
SERVED = "hybrid (served list)"
CO_BORROWING = "co-borrowing, no threshold"
CO_BORROWING_K = "co-borrowing, >= k readers per pair"
ALS_K = "ALS similar_items, books >= k readers"
KNN_K = "BM25 item-KNN similar_items, books >= k readers"
CATALOG = "catalog only (author, subjects, series)"
#: The baselines that obey the k rule (a served list must beat the best of them).
PRIVATE_BASELINES = (CO_BORROWING_K, ALS_K, KNN_K, CATALOG)
BASELINES = (CO_BORROWING, *PRIVATE_BASELINES)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PageViews:
    """What each test reader looks at: `anchors` maps a reader to the book whose page they
    see; `sessions` maps readers with two or more books to their session, oldest first."""

    anchors: pd.Series
    sessions: pd.Series


def page_views(split: Split, *, session_books: int = SESSION_BOOKS) -> PageViews:
    """Each test reader's last borrowed catalog record before the cut, and their last
    `session_books` distinct ones."""
    if session_books < 2:
        raise ValueError(f"session_books must be at least 2; got {session_books}")
    train = split.train
    loans = train.interactions
    if C.EVENT in loans:
        loans = loans[loans[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS)]
    catalog = pd.Index(train.catalog[C.BOOK_ID].astype(str))
    loans = loans.assign(
        **{C.READER_ID: loans[C.READER_ID].astype(str), C.BOOK_ID: loans[C.BOOK_ID].astype(str)}
    )
    loans = loans[loans[C.READER_ID].isin(split.test_readers) & loans[C.BOOK_ID].isin(catalog)]
    latest = (
        loans.sort_values(C.TIMESTAMP, kind="stable")
        .drop_duplicates([C.READER_ID, C.BOOK_ID], keep="last")
        .groupby(C.READER_ID, sort=True)[C.BOOK_ID]
        .agg(list)
        .map(lambda books: tuple(books[-session_books:]))
    )
    anchors = latest.map(lambda books: books[-1])
    sessions = latest[latest.map(len) >= 2]
    return PageViews(anchors.rename(C.BOOK_ID), sessions.rename(C.BOOK_ID))


# ----------------------------------------------------------------------------- the lists
def page_model(settings: Settings) -> Recommender:
    """The library's default model as its catalog pages use it: per-book and session lists do
    not depend on the blend it tunes for readers' lists, so that tuning is skipped."""
    return registry.default_model(settings).set_params(tune_weights=False)


@dataclass(frozen=True)
class PageLists:
    """One method's lists ``[reader_id, book_id, rank]``: per page and per session."""

    pages: pd.DataFrame
    sessions: pd.DataFrame


def served_lists(
    model: Recommender, train: Dataset, views: PageViews, *, k: int, min_readers: int
) -> PageLists:
    """The list pipeline's per-book and session lists of a fitted, servable `model` (fitted
    with `fit`: per-book lists need its links), as a catalog page would show them."""
    bundle = Bundle("19700101T000000Z-0000", Path("."), {}, model, train.catalog, train.holdings)
    served = build_served(bundle, None, min_readers=min_readers)
    rules, query = no_rules(len(served.catalog)), ListQuery(k=k)
    ids = served.catalog.book_ids
    seen = pd.unique(np.concatenate([views.anchors.to_numpy(), *views.sessions.to_numpy()]))
    served.similar.precompute(served.catalog.positions(seen.tolist()))  # in batches: faster
    per_book = {
        book: ids[pipeline.book_list(served, rules, book_id=book, query=query).positions]
        for book in views.anchors.unique().tolist()
    }
    sessions = {
        reader: ids[pipeline.session_list(served, rules, viewed=list(books), query=query).positions]
        for reader, books in views.sessions.items()
    }
    return PageLists(_frame({r: per_book[b] for r, b in views.anchors.items()}), _frame(sessions))


@dataclass(frozen=True)
class _Books:
    """The training books, their works and popularity, shared by every baseline of a cut."""

    ids: IdMap
    works: np.ndarray
    popular_order: np.ndarray

    @classmethod
    def of(cls, train: Dataset, borrowed: np.ndarray | None = None) -> _Books:
        ids = IdMap(train.books.astype(str))
        works = pd.factorize(works_of(ids.ids, work_map(train.catalog)))[0]
        readers = np.zeros(len(ids)) if borrowed is None else borrowed
        return cls(ids, works, np.argsort(-readers, kind="stable"))


def scorer_lists(
    scorer: N.BookScorer, books: _Books, views: PageViews, *, k: int, depth: int = LIST_DEPTH
) -> PageLists:
    """A baseline's page and session lists from its book-to-book `scorer`."""
    wanted = pd.unique(np.concatenate([views.anchors.to_numpy(), *views.sessions.to_numpy()]))
    index = books.ids.index(wanted.astype(str))
    top: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, len(index), SCORE_BATCH):
        batch = index[start : start + SCORE_BATCH]
        scores = scorer(batch)
        for row, anchor in zip(scores, batch.tolist(), strict=True):
            best = np.argsort(-row, kind="stable")[:depth]
            best = best[row[best] > 0]
            scale = row[best[0]] if len(best) else 1.0
            top[anchor] = (best, row[best] / scale)
    position = dict(zip(wanted.tolist(), index.tolist(), strict=True))
    pages = {
        reader: _finished(books, top[position[book]][0], [position[book]], k)
        for reader, book in views.anchors.items()
    }
    sessions = {}
    for reader, session in views.sessions.items():
        anchors = [position[b] for b in session]
        totals: dict[int, float] = {}
        for anchor in anchors:
            for candidate, score in zip(*top[anchor], strict=True):
                totals[int(candidate)] = totals.get(int(candidate), 0.0) + float(score)
        ranked = sorted(totals, key=lambda c: -totals[c])
        sessions[reader] = _finished(books, np.asarray(ranked, dtype=np.int64), anchors, k)
    return PageLists(_frame(pages), _frame(sessions))


def _finished(books: _Books, ranked: np.ndarray, seen: list[int], k: int) -> np.ndarray:
    """The first k of `ranked`, then of the most borrowed books: one record per work, none of
    the works at `seen` (the page's or session's books)."""
    taken = {int(books.works[s]) for s in seen}
    chosen: list[int] = []
    for candidates in (ranked, books.popular_order):
        for book in candidates.tolist():
            work = int(books.works[book])
            if work not in taken:
                taken.add(work)
                chosen.append(book)
                if len(chosen) == k:
                    return books.ids.ids[chosen]
    return books.ids.ids[chosen]


def baseline_lists(
    train: Dataset, views: PageViews, *, k: int, min_readers: int, seed: int | None
) -> dict[str, PageLists]:
    """Every baseline's lists on one cut's training data."""
    ids = IdMap(train.books.astype(str))
    borrowed = N.borrowed_matrix(train, ids)
    books = _Books.of(train, np.asarray(borrowed.sum(axis=0)).ravel())
    scorers: dict[str, Callable[[], N.BookScorer]] = {
        CO_BORROWING: lambda: N.co_borrowing_scorer(borrowed),
        CO_BORROWING_K: lambda: N.co_borrowing_scorer(borrowed, min_readers=min_readers),
        ALS_K: lambda: N.als_scorer(borrowed, min_readers=min_readers, seed=seed),
        KNN_K: lambda: N.bm25_scorer(borrowed, min_readers=min_readers),
        CATALOG: lambda: N.catalog_scorer(train.catalog, ids),
    }
    return {name: scorer_lists(make(), books, views, k=k) for name, make in scorers.items()}


# ------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class CutScores:
    """One cut's NDCG@k per method and list kind (`PAGE`, `SESSION`, `LAST_BOOK`), with the
    per-reader figures behind each (for paired bootstrap intervals)."""

    cut: Cut
    readers: dict[str, int]
    per_reader: dict[tuple[str, str], np.ndarray]

    def ndcg(self, method: str, kind: str) -> float:
        values = self.per_reader.get((method, kind))
        return float(values.mean()) if values is not None and len(values) else float("nan")


def score_cut(
    cut: Cut,
    models: Mapping[str, Callable[[], Recommender]],
    *,
    k: int = 10,
    min_readers: int = 3,
    seed: int | None = 0,
    progress: Progress | None = None,
) -> CutScores:
    """Every served model's (fitted here on the cut's training data) and every baseline's
    page and session lists on `cut`, scored."""
    split = cut.split
    views = page_views(split)
    lists = baseline_lists(split.train, views, k=k, min_readers=min_readers, seed=seed)
    for name, make in models.items():
        _say(progress, f"{cut.name}: fitting {name}")
        model = make().fit(split.train)
        lists[name] = served_lists(model, split.train, views, k=k, min_readers=min_readers)
    per_reader = scored_lists(split, views, lists, k=k)
    readers = {PAGE: len(views.anchors), SESSION: len(views.sessions)}
    _say(progress, f"{cut.name}: scored {len(lists)} methods on {readers[PAGE]} pages")
    return CutScores(cut, readers, per_reader)


def scored_lists(
    split: Split, views: PageViews, lists: Mapping[str, PageLists], *, k: int
) -> dict[tuple[str, str], np.ndarray]:
    """NDCG@k per test reader of each method's lists, by (method, list kind): `PAGE` over
    every page reader, `SESSION` and `LAST_BOOK` over the session readers."""
    page_split = _tested(split, views.anchors.index)
    session_split = _tested(split, views.sessions.index)
    per_reader: dict[tuple[str, str], np.ndarray] = {}
    for kind, test, frames in (
        (PAGE, page_split, {n: made.pages for n, made in lists.items()}),
        (SESSION, session_split, {n: made.sessions for n, made in lists.items()}),
        (LAST_BOOK, session_split, {n: made.pages for n, made in lists.items()}),
    ):
        if test.test.empty:
            continue
        result = compare_models(
            {},
            test,
            k=k,
            include_baselines=False,
            lists={n: ReaderLists(frame, 0.0, 0.0, {}) for n, frame in frames.items()},
        )
        for name, scored in result.results.items():
            figures = scored.per_reader.reindex(test.test_readers)["ndcg"]
            per_reader[(name, kind)] = figures.fillna(0.0).to_numpy()
    return per_reader


def _tested(split: Split, readers: pd.Index) -> Split:
    test = split.test[split.test[C.READER_ID].astype(str).isin(readers)]
    return replace(split, test=test.reset_index(drop=True))


@dataclass(frozen=True)
class BookListComparison:
    """Scores of the served models and the baselines on every rolling cut."""

    k: int
    cuts: list[CutScores]
    methods: list[str]

    def table(self) -> pd.DataFrame:
        """One row per cut and method: ``role, page, session, last_book`` NDCG@k."""
        rows = [
            {
                "cut": scores.cut.name,
                "role": scores.cut.role,
                "method": method,
                **{kind: scores.ndcg(method, kind) for kind in (PAGE, SESSION, LAST_BOOK)},
            }
            for scores in self.cuts
            for method in self.methods
        ]
        return pd.DataFrame(rows).set_index(["cut", "method"])

    def means(self, role: str | None = None) -> pd.DataFrame:
        """Per method, the mean over the cuts (of `role` only, if given) of each list kind."""
        table = self.table()
        if role is not None:
            table = table[table["role"] == role]
        return table.groupby(level="method", sort=False)[[PAGE, SESSION, LAST_BOOK]].mean()

    def ratio(self, method: str, versus: str, kind: str = PAGE) -> tuple[float, float, float]:
        """`method`'s mean over `versus`' (over all cuts' readers together) with its 90%
        bootstrap interval; `versus` may be `LAST_BOOK` (the same method's page list of the
        session's last book)."""
        base_kind = LAST_BOOK if versus == LAST_BOOK else kind
        base = method if versus == LAST_BOOK else versus
        top = np.concatenate([c.per_reader[(method, kind)] for c in self.cuts])
        bottom = np.concatenate([c.per_reader[(base, base_kind)] for c in self.cuts])
        return bootstrap_ratio(top, bottom)

    def best_private_baseline(self, kind: str = PAGE) -> str:
        """The baseline obeying the k rule with the best mean over the cuts."""
        means = self.means()[kind]
        return str(means.loc[list(PRIVATE_BASELINES)].idxmax())


def compare_book_lists(
    dataset: Dataset,
    models: Mapping[str, Callable[[], Recommender]],
    *,
    k: int = 10,
    cuts: int = 4,
    first: float = 0.5,
    window: float = 0.1,
    confirming: int = 2,
    min_readers: int = 3,
    seed: int | None = 0,
    progress: Progress | None = None,
) -> BookListComparison:
    """`score_cut` on each rolling-origin cut of `dataset` (`rolling_cuts`' arguments;
    development cuts first)."""
    made = rolling_cuts(dataset, cuts=cuts, first=first, window=window, confirming=confirming)
    scored = [
        score_cut(cut, models, k=k, min_readers=min_readers, seed=seed, progress=progress)
        for cut in made
    ]
    return BookListComparison(k, scored, [*models, *BASELINES])


def _frame(lists: Mapping[Hashable, np.ndarray]) -> pd.DataFrame:
    """``[reader_id, book_id, rank]`` from each reader's ranked book ids."""
    readers = [reader for reader, books in lists.items() for _ in range(len(books))]
    books = [str(b) for listed in lists.values() for b in listed]
    ranks = [rank for listed in lists.values() for rank in range(1, len(listed) + 1)]
    return pd.DataFrame(
        {
            C.READER_ID: pd.Series(readers, dtype=object),
            C.BOOK_ID: pd.Series(books, dtype=object),
            C.SCORE: -np.asarray(ranks, dtype=np.float64),
            C.RANK: np.asarray(ranks, dtype=np.int64),
        }
    )


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
