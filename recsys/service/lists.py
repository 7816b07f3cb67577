"""The four kinds of list the service answers, built on a `ServedModel`.

Every list obeys the filters exactly: it never holds a filtered-out book, never a book the reader
already borrowed (in any edition), and it has k items whenever k eligible works exist (the
model's list first, then popular books). `reader_ranking(..., cheap=True)` is the same list for
the event loop: it raises `SlowPath` where it would ask the model or wait for a list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.service.filters import ListFilters
from recsys.service.history import LoanHistory
from recsys.service.popular import PERIODS
from recsys.service.reader_lists import READER_LIST_DEPTH
from recsys.service.schemas import Item

if TYPE_CHECKING:
    from recsys.service.model_store import ServedModel

PERSONALIZED = "personalized"
FOLD_IN = "fold-in"
FALLBACK_POPULAR = "fallback:popular"
COLLABORATIVE = "collaborative"
CONTENT = "content"
SESSION = "session"
POPULAR = "popular"
#: How many of the reader's latest books are looked at to explain a suggestion.
REASON_SOURCES = 5
#: How many more books than k to ask the model for before it is asked with explicit candidates.
OVERFETCH = 2.0


@dataclass(frozen=True)
class ListResult:
    items: list[Item]
    strategy: str


class SlowPath(Exception):
    """Raised by a `cheap` call where the answer needs the model or a list not computed yet:
    the caller answers in the threadpool instead of on the event loop."""


class NotReady(SlowPath):
    """The `SlowPath` of a list that a newly served model has not computed yet."""


@dataclass(frozen=True)
class RankedList:
    """A list before it becomes response items: catalog positions, scores and reasons."""

    positions: np.ndarray
    scores: np.ndarray
    reasons: list[str | None]
    strategy: str

    def result(self, served: ServedModel) -> ListResult:
        return ListResult(
            [Item(**item) for item in item_dicts(served, self)],
            self.strategy,
        )


def reader_list(
    served: ServedModel, *, reader: str, history: LoanHistory, filters: ListFilters, k: int
) -> ListResult:
    """Recommendations for one pseudonymous reader, folding in loans newer than the model."""
    return reader_ranking(served, reader=reader, history=history, filters=filters, k=k).result(
        served
    )


def reader_ranking(
    served: ServedModel,
    *,
    reader: str,
    history: LoanHistory,
    filters: ListFilters,
    k: int,
    cheap: bool = False,
) -> RankedList:
    """`reader_list` before rendering; `cheap` raises `SlowPath` instead of asking the model or
    waiting for a list (fold-in, a list not ready yet, filters deeper than the list)."""
    catalog = served.catalog
    eligible = catalog.eligible(filters, history.book_ids)
    model = served.model
    listed = served.readers.index.get(reader)
    known = listed is not None or _knows_reader(model, reader)
    newer = history.newer_than(getattr(model, "reference_time_", None)) if known else history
    if not known and not newer:
        return _popular_fallback(served, eligible, filters, k)
    if cheap and (newer or listed is None):
        raise SlowPath("the model must answer")
    if cheap and not served.readers.is_ready(listed):  # type: ignore[arg-type]
        raise NotReady("the reader's list is not computed yet")
    if newer:
        strategy = FOLD_IN
        positions, scores = _model_reader_list(served, reader, newer.frame(reader), eligible, k)
    elif listed is not None:
        strategy = PERSONALIZED
        positions, scores = _listed_reader_list(served, reader, listed, eligible, k, cheap=cheap)
    else:
        strategy = PERSONALIZED
        positions, scores = _model_reader_list(served, reader, None, eligible, k)
    reasons = _reader_reasons(served, positions, history, cheap=cheap)
    positions, scores, reasons = _pad_popular(
        served, positions, scores, reasons, eligible, filters.library, k
    )
    return RankedList(positions, scores, reasons, strategy)


def non_personal_list(served: ServedModel, *, filters: ListFilters, k: int) -> ListResult:
    """Popular books, for a reader who may not be personalized (no consent, or erased)."""
    return non_personal_ranking(served, filters=filters, k=k).result(served)


def non_personal_ranking(served: ServedModel, *, filters: ListFilters, k: int) -> RankedList:
    """`non_personal_list` before rendering."""
    return _popular_fallback(served, served.catalog.eligible(filters), filters, k)


def similar_list(served: ServedModel, *, book_id: str, filters: ListFilters, k: int) -> ListResult:
    """Books similar to a catalog book (caller checks it is in the catalog)."""
    catalog = served.catalog
    position = catalog.position[book_id]
    eligible = catalog.eligible(filters, [book_id])
    row, row_scores = served.similar.row(position)
    ok = eligible[row]
    positions, scores = row[ok][:k], row_scores[ok][:k]
    if len(positions) < k and not served.similar.complete[position] and eligible.any():
        frame = served.model.similar_books(
            [book_id], k=k, candidates=catalog.book_ids[eligible].tolist()
        )
        positions, scores = _frame_positions(served, frame, C.SIMILAR_BOOK_ID, eligible)
    strategy = _similar_strategy(served, position, has_model_list=len(row) > 0)
    title = catalog.titles[position] or book_id
    reason = (
        f"readers of {title} also borrowed this"
        if strategy == COLLABORATIVE
        else (f"similar subjects to {title}")
    )
    reasons: list[str | None] = [reason] * len(positions)
    if len(positions) < k:
        positions, scores, reasons = _pad_subject(
            served, position, positions, scores, reasons, eligible, k
        )
    positions, scores, reasons = _pad_popular(
        served, positions, scores, reasons, eligible, filters.library, k
    )
    return ListResult(_items(served, positions, scores, reasons), strategy)


def popular_list(served: ServedModel, *, filters: ListFilters, period: str, k: int) -> ListResult:
    """The most borrowed eligible books in `period`, at `filters.library` if given, one record
    per work (its highest-ranked one)."""
    eligible = served.catalog.eligible(filters)
    positions, scores = np.empty(0, dtype=np.int64), np.empty(0)
    while len(positions) < k:
        picked, picked_scores = served.popular.pick(
            period, filters.library, eligible, k - len(positions)
        )
        if len(picked) == 0:
            break
        _, first = np.unique(served.catalog.works[picked], return_index=True)
        first.sort()
        positions = np.concatenate([positions, picked[first]])
        scores = np.concatenate([scores, picked_scores[first]])
        eligible[_works_of(served, picked)] = False  # picked works, every record, are done
    reason = _popular_reason(filters.library, period)
    return ListResult(_items(served, positions, scores, [reason] * len(positions)), POPULAR)


def session_list(
    served: ServedModel, *, viewed: Sequence[str], filters: ListFilters, k: int
) -> ListResult:
    """Suggestions from books viewed in an anonymous session: their neighbours, summed."""
    catalog = served.catalog
    known = [b for b in dict.fromkeys(viewed) if b in catalog]
    eligible = catalog.eligible(filters, known)
    totals = np.zeros(len(catalog), dtype=np.float64)
    source = np.full(len(catalog), -1, dtype=np.int64)
    best = np.zeros(len(catalog), dtype=np.float64)
    for book_id in known:
        position = catalog.position[book_id]
        neighbours, row_scores = served.similar.row(position)
        totals[neighbours] += row_scores
        better = row_scores > best[neighbours]
        best[neighbours[better]] = row_scores[better]
        source[neighbours[better]] = position
    candidates = np.flatnonzero((totals > 0) & eligible)
    ranked = candidates[
        np.lexsort((-served.popular.fallback_scores[candidates], -totals[candidates]))
    ]
    # two viewed books may each list another record of one work
    order = _one_per_work(served, ranked, np.empty(0, dtype=np.int64))[:k]
    if len(order) == 0:
        return _popular_fallback(served, eligible, filters, k).result(served)
    reasons: list[str | None] = [
        f"similar to {catalog.titles[source[p]] or catalog.book_ids[source[p]]}, "
        "viewed in this session"
        for p in order
    ]
    positions, scores, reasons = _pad_popular(
        served, order, totals[order], reasons, eligible, filters.library, k
    )
    return ListResult(_items(served, positions, scores, reasons), SESSION)


# ------------------------------------------------------------------------------- helpers
def _knows_reader(model: Any, reader: str) -> bool:
    readers = getattr(model, "readers_", None)
    return readers is not None and reader in readers


def _fetch_size(served: ServedModel, eligible: np.ndarray, k: int) -> int:
    """How deep a model list must be to hold k eligible books, unless filters are unlucky."""
    share = max(eligible.mean(), 1e-6) if len(eligible) else 1.0
    return max(min(len(served.catalog), math.ceil(k * OVERFETCH / share) + 10), 1)


def _model_reader_list(
    served: ServedModel, reader: str, history: pd.DataFrame | None, eligible: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The model's list limited to `eligible`: over-fetch first, explicit candidates if short."""
    fetch = _fetch_size(served, eligible, k)
    frame = served.model.recommend([reader], k=fetch, history=history)
    positions, scores = _frame_positions(served, frame, C.BOOK_ID, eligible)
    if len(positions) >= k or len(frame) < fetch:  # enough, or the model has no more
        return positions[:k], scores[:k]
    return _candidates_reader_list(served, reader, history, eligible, k)


def _candidates_reader_list(
    served: ServedModel, reader: str, history: pd.DataFrame | None, eligible: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    frame = served.model.recommend(
        [reader], k=k, history=history, candidates=served.catalog.book_ids[eligible].tolist()
    )
    positions, scores = _frame_positions(served, frame, C.BOOK_ID, eligible)
    return positions[:k], scores[:k]


def _listed_reader_list(
    served: ServedModel,
    reader: str,
    listed: int,
    eligible: np.ndarray,
    k: int,
    *,
    cheap: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """`_model_reader_list` answered from the precomputed list when it is deep enough: its
    first `fetch` rows are what the model would answer for k=fetch."""
    fetch = _fetch_size(served, eligible, k)
    row, row_scores, count = served.readers.get(listed)
    if fetch > count and count >= READER_LIST_DEPTH:  # deeper than precomputed
        if cheap:
            raise SlowPath("the filters need a deeper list than the precomputed one")
        return _model_reader_list(served, reader, None, eligible, k)
    rows = min(fetch, count)
    positions, scores = row[:rows], row_scores[:rows]
    ok = positions >= 0
    ok[ok] = eligible[positions[ok]]
    positions, scores = positions[ok], scores[ok]
    if len(positions) >= k or rows < fetch:
        return positions[:k], scores[:k]
    if cheap:
        raise SlowPath("the filters need the model's candidates")
    return _candidates_reader_list(served, reader, None, eligible, k)


def _frame_positions(
    served: ServedModel, frame: pd.DataFrame, column: str, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lookup = served.catalog.position
    positions = np.asarray([lookup.get(b, -1) for b in frame[column].tolist()], dtype=np.int64)
    scores = frame[C.SCORE].to_numpy(dtype=np.float64)
    ok = positions >= 0
    ok[ok] = eligible[positions[ok]]
    return positions[ok], scores[ok]


def _reader_reasons(
    served: ServedModel, positions: np.ndarray, history: LoanHistory, *, cheap: bool = False
) -> list[str | None]:
    """ "Because you borrowed X": the latest own book whose neighbour list holds the suggestion.

    Read from the per-book lists, which costs microseconds where the model's `explain` costs
    milliseconds per book.
    """
    catalog = served.catalog
    lookup = catalog.position
    sources: list[int] = []  # the latest distinct own books in the catalog
    for book_id in history.latest_first():
        p = lookup.get(book_id)
        if p is not None and p not in sources:
            sources.append(p)
            if len(sources) == REASON_SOURCES:
                break
    similar = served.similar
    for book in sources:
        if not similar.is_ready(book):
            if cheap:
                raise NotReady("a per-book list is not computed yet")
            similar.row(book)  # computes it
    if sources and len(positions):
        # which source rows hold each suggestion; the first (latest) one explains it
        hits = (similar.positions[sources][:, :, None] == positions[None, None, :]).any(axis=1)
        first = hits.argmax(axis=0)
        source = np.where(hits.any(axis=0), np.asarray(sources)[first], -1).tolist()
    else:
        source = [-1] * len(positions)
    return [
        f"because you borrowed {catalog.titles[s] or catalog.book_ids[s]}"
        if s >= 0
        else "suits what you borrowed"
        for s in source
    ]


def _similar_strategy(served: ServedModel, position: int, *, has_model_list: bool) -> str:
    if not has_model_list:
        return FALLBACK_POPULAR
    model = served.model
    borrowed = getattr(model, "borrowed_", None)
    index = getattr(model, "books_", None)
    if getattr(model, "collaborative", False) and borrowed is not None and index is not None:
        book = index.index([served.catalog.book_ids[position]])[0]
        if book >= 0 and borrowed[book]:
            return COLLABORATIVE
    return CONTENT


def _pad_subject(
    served: ServedModel,
    position: int,
    positions: np.ndarray,
    scores: np.ndarray,
    reasons: list[str | None],
    eligible: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Fill with popular books that share a subject heading with the book."""
    same = served.subject_positions(position)
    if len(same) == 0:
        return positions, scores, reasons
    rest = eligible.copy()
    rest[positions] = False
    same = same[rest[same]]
    same = same[np.argsort(-served.popular.fallback_scores[same], kind="stable")]
    extra = _one_per_work(served, same, positions)[: k - len(positions)]
    return (
        np.concatenate([positions, extra]),
        np.concatenate([scores, np.zeros(len(extra))]),
        reasons + ["popular in the same subject"] * len(extra),
    )


def _pad_popular(
    served: ServedModel,
    positions: np.ndarray,
    scores: np.ndarray,
    reasons: list[str | None],
    eligible: np.ndarray,
    library: str | None,
    k: int,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Fill with popular eligible books (one edition per work) up to k."""
    if len(positions) >= k:
        return positions[:k], scores[:k], reasons[:k]
    rest = eligible.copy()
    rest[positions] = False
    rest[_works_of(served, positions)] = False
    extra, _ = served.popular.pick(PERIODS[0], library, rest, 4 * (k - len(positions)) + 8)
    extra = _one_per_work(served, extra, positions)
    if len(extra) < k - len(positions):
        more = served.popular.fallback_order[rest[served.popular.fallback_order]]
        extra = _one_per_work(served, np.concatenate([extra, more]), positions)
    extra = extra[: k - len(positions)]
    reason = _popular_reason(library, PERIODS[0])
    return (
        np.concatenate([positions, extra]).astype(np.int64),
        np.concatenate([scores, np.zeros(len(extra))]),
        reasons + [reason] * len(extra),
    )


def _works_of(served: ServedModel, positions: np.ndarray) -> np.ndarray:
    """Every edition of the works at `positions`."""
    return served.catalog.editions(served.catalog.book_ids[positions].tolist())


def _one_per_work(served: ServedModel, candidates: np.ndarray, taken: np.ndarray) -> np.ndarray:
    works = served.catalog.works
    seen = set(works[taken].tolist())
    keep = []
    for p in candidates.tolist():
        w = int(works[p])
        if w not in seen:
            seen.add(w)
            keep.append(p)
    return np.asarray(keep, dtype=np.int64)


def _popular_fallback(
    served: ServedModel, eligible: np.ndarray, filters: ListFilters, k: int
) -> RankedList:
    empty = np.empty(0, dtype=np.int64)
    positions, scores, reasons = _pad_popular(
        served, empty, np.empty(0), [], eligible, filters.library, k
    )
    return RankedList(positions, scores, reasons, FALLBACK_POPULAR)


def _popular_reason(library: str | None, period: str) -> str:
    where = f" at {library}" if library else ""
    when = "" if period == "all" else f" this {period}"
    return f"popular{where}{when}"


def _title(served: ServedModel, book_id: str) -> str:
    position = served.catalog.position.get(book_id)
    title = served.catalog.titles[position] if position is not None else None
    return title or book_id


def _items(
    served: ServedModel, positions: np.ndarray, scores: np.ndarray, reasons: Sequence[str | None]
) -> list[Item]:
    return RankedList(positions, scores, list(reasons), "").result(served).items


def item_dicts(served: ServedModel, ranked: RankedList) -> list[dict[str, Any]]:
    """The items as plain dicts, in `Item`'s field order (the fast path renders these)."""
    catalog = served.catalog
    book_ids, titles, authors = catalog.book_ids, catalog.titles, catalog.authors
    return [
        {
            "book_id": str(book_ids[p]),
            "title": titles[p],
            "author": authors[p],
            "score": round(s, 6) if math.isfinite(s) else 0.0,
            "rank": rank,
            "reason": reason,
        }
        for rank, (p, s, reason) in enumerate(
            zip(ranked.positions.tolist(), ranked.scores.tolist(), ranked.reasons, strict=True),
            start=1,
        )
    ]
