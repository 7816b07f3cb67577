"""The list pipeline: every list the project gives is made here, in the same steps.

    request -> candidates -> filter -> curate -> pad -> explain         (render: `render.py`)

- **candidates**: the model's ranked books for the request: a reader's precomputed list (or the
  model itself, for loans newer than it), a book's per-book list after the other volumes of its
  series (`_series_first`), the per-book lists of a
  session's books summed, the popular counts;
- **filter** (`allowed`): the catalog filters and `exclude`; every record of the works the reader
  (or the session, or the book's page) already has, and of those the reader withheld (not
  interested, excluded from what feeds their lists: `LoanHistory.never_shown`); books the
  librarians suppressed in the list's
  scope and books never to be paired with the request's books; then one record per work, the one
  the reader's library holds (`CatalogIndex.shown_records`). k-anonymity is the model's own rule
  (`Recommender.private_lists`): only such models are served;
- **curate** (`curate`): boost and bury factors re-rank the candidates, pins and staff picks take
  their slots;
- **pad**: popular books up to k (a per-book list first takes popular books of its subjects);
- **explain**: why each book is there.

The service's routes and front door and the batch commands only call the list functions below
(`reader_list`, `non_personal_list`, `book_list`, `session_list`, `popular_list`, `group_list`)
and render what they return. A rule that must hold for every list goes into one of these steps,
never into a caller. `reader_list(..., cheap=True)` is the same list for an event loop: it raises
`SlowPath` where it would ask the model or wait for a list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Feedback
from recsys.curation.rules import CurationSet, Scope
from recsys.lists.catalog import ListFilters
from recsys.lists.history import LoanHistory
from recsys.lists.query import PERIODS, ListQuery
from recsys.lists.readers import READER_LIST_DEPTH
from recsys.models.base import BORROWED_NEXT, BORROWED_TOO

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel

PERSONALIZED = "personalized"
FOLD_IN = "fold-in"
FALLBACK_POPULAR = "fallback:popular"
COLLABORATIVE = "collaborative"
CONTENT = "content"
SESSION = "session"
POPULAR = "popular"
GROUP = "group"
READING_LIST = "reading-list"
FALLBACK_READING_LIST = "fallback:reading-list"
#: How many of the reader's latest books are looked at to explain a suggestion.
REASON_SOURCES = 5
#: How many more books than k to ask the model for before it is asked with explicit candidates.
OVERFETCH = 2.0
#: The reader id a list is scored under when the model's own row of the reader may hold a book
#: they withheld since: unknown to every model (pseudonyms are hex), so the model scores the
#: reader's history alone.
HISTORY_ONLY = "history-only"
#: How a reason names the reader's book, by the event that made it theirs.
BECAUSE = {
    Feedback.ALREADY_READ: "because you read {}",
    Feedback.LIKED: "because you liked {}",
}
BECAUSE_BORROWED = "because you borrowed {}"


@dataclass(frozen=True)
class RankedList:
    """A list before rendering: catalog positions, scores and reasons, best first; for a
    personal list, the position of the reader's own book behind each entry (-1: none); and the
    library it was made for (None: no one library), which each book's availability is told
    against (`CatalogIndex.availability`)."""

    positions: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    strategy: str
    sources: np.ndarray | None = None
    library: str | None = None


class SlowPath(Exception):
    """Raised by a `cheap` call where the answer needs the model or a list not computed yet:
    the caller answers in the threadpool instead of on the event loop."""


class NotReady(SlowPath):
    """The `SlowPath` of a list that a newly served model has not computed yet."""


@dataclass(frozen=True)
class _Draft:
    """Candidates on their way to a list; a reason of None is explained at the end."""

    positions: np.ndarray
    scores: np.ndarray
    reasons: Sequence[str | None]

    @classmethod
    def of(cls, positions: np.ndarray, scores: np.ndarray) -> _Draft:
        return cls(
            np.asarray(positions, dtype=np.int64),
            np.asarray(scores, dtype=np.float64),
            [None] * len(positions),
        )

    def __len__(self) -> int:
        return len(self.positions)

    def head(self, k: int) -> _Draft:
        return _Draft(self.positions[:k], self.scores[:k], self.reasons[:k])


# ------------------------------------------------------------------------------- the lists
def reader_list(
    served: ServedModel,
    curation: CurationSet,
    *,
    reader: str,
    history: LoanHistory,
    query: ListQuery,
    cheap: bool = False,
) -> RankedList:
    """Recommendations for one pseudonymous reader, folding in loans (and feedback) newer than
    the model. When the reader withheld a book after the model's data, the model may still
    count it: the list is then scored from what feeds it now, under `HISTORY_ONLY`."""
    k, scope = query.k, _scope(query.filters)
    catalog = served.catalog
    own = catalog.positions(history.never_shown())
    eligible = allowed(served, curation, query.filters, scope, own)
    model = served.model
    if history.withheld_since(model.trained_until):
        reader = HISTORY_ONLY
    listed = served.readers.index.get(reader)
    known = listed is not None
    newer = history.newer_than(model.trained_until) if known else history
    if not known and not newer:
        return _popular(served, curation, eligible, query, scope, FALLBACK_POPULAR)
    if cheap and (newer or listed is None):
        raise SlowPath("the model must answer")
    if cheap and not served.readers.is_ready(listed):  # type: ignore[arg-type]
        raise NotReady("the reader's list is not computed yet")
    language = _usual_language(served, catalog.positions(history.book_ids))

    def shown(positions: np.ndarray, scores: np.ndarray) -> _Draft:
        return _shown(served, _Draft.of(positions, scores), eligible, query.filters, language)

    wanted = _Wanted(k, _fetch_size(served, eligible, k), eligible, shown)
    if newer:
        strategy = FOLD_IN
        draft = _model_reader_list(served, reader, newer.frame(reader), wanted)
    elif listed is not None:
        strategy = PERSONALIZED
        draft = _listed_reader_list(served, reader, listed, wanted, cheap=cheap)
    else:
        strategy = PERSONALIZED
        draft = _model_reader_list(served, reader, None, wanted)
    draft = curate(served, curation, draft, eligible, scope, k)
    reasons, sources = _reader_reasons(served, draft, history, cheap=cheap)
    draft = _pad_popular(
        served, replace(draft, reasons=reasons), eligible, query.filters.library, k
    )
    sources = np.concatenate([sources, np.full(len(draft), -1, dtype=np.int64)])[: len(draft)]
    return replace(_finish(draft, strategy, query.filters.library), sources=sources)


def non_personal_list(
    served: ServedModel, curation: CurationSet, *, query: ListQuery
) -> RankedList:
    """Popular books, for a reader who may not be personalized (no consent, or erased)."""
    scope = _scope(query.filters)
    eligible = allowed(served, curation, query.filters, scope)
    return _popular(served, curation, eligible, query, scope, FALLBACK_POPULAR)


def book_list(
    served: ServedModel, curation: CurationSet, *, book_id: str, query: ListQuery
) -> RankedList:
    """Books whose readers also borrowed `book_id`, after the other volumes of its series (the
    caller checks it is in the catalog)."""
    k, scope = query.k, _scope(query.filters)
    catalog = served.catalog
    position = catalog.position[book_id]
    anchor = np.asarray([position], dtype=np.int64)
    eligible = allowed(served, curation, query.filters, scope, anchor)
    row, row_scores = served.similar.row(position)
    draft = _shown(served, _Draft.of(row, row_scores), eligible, query.filters, None)
    if len(draft) < k and not served.similar.complete[position] and eligible.any():
        frame = served.model.similar_books(
            [book_id], k=k, candidates=catalog.book_ids[eligible].tolist()
        )
        positions, scores = _frame_positions(served, frame, C.SIMILAR_BOOK_ID)
        draft = _shown(served, _Draft.of(positions, scores), eligible, query.filters, None)
    draft, in_series = _series_first(
        served, position, draft, eligible, query.filters, slots=max(1, k // 2)
    )
    strategy = FALLBACK_POPULAR
    if len(row) > 0:
        strategy = COLLABORATIVE if served.model.linked_by_readers(book_id) else CONTENT
    elif in_series:
        strategy = CONTENT
    draft = curate(served, curation, draft, eligible, scope, k, anchor=position)
    draft = replace(draft, reasons=_book_reasons(served, position, draft))
    if len(draft) < k:
        draft = _pad_subject(served, draft, position, eligible, k)
    draft = _pad_popular(served, draft, eligible, query.filters.library, k)
    return _finish(draft, strategy, query.filters.library)


def session_list(
    served: ServedModel, curation: CurationSet, *, viewed: Sequence[str], query: ListQuery
) -> RankedList:
    """Suggestions from books viewed in an anonymous session: their per-book lists, summed."""
    return _from_books(
        served,
        curation,
        viewed,
        query,
        reason=lambda title: f"similar to {title}, viewed in this session",
        strategy=SESSION,
    )


def reading_list_neighbours(
    served: ServedModel, curation: CurationSet, *, books: Sequence[str], query: ListQuery
) -> RankedList:
    """ "Readers of this list also borrowed": the per-book lists of a reading list's books,
    summed (never one of the list's own works)."""
    return _from_books(
        served,
        curation,
        books,
        query,
        reason=lambda title: f"readers of {title} also borrowed this",
        strategy=READING_LIST,
    )


def continue_list(
    served: ServedModel,
    curation: CurationSet,
    *,
    books: Sequence[str],
    history: LoanHistory | None,
    query: ListQuery,
) -> RankedList:
    """The books of a reading list the reader has not borrowed yet (in any record), in the
    list's order, within the query's filters; the whole list for a reader who may not be
    personalized (`history` None). The librarians' suppress rules hold here too."""
    scope = _scope(query.filters)
    catalog = served.catalog
    own = None if history is None else catalog.positions(history.never_shown())
    eligible = allowed(served, curation, query.filters, scope, own)
    positions = catalog.positions(books)
    draft = _shown(
        served, _Draft.of(positions, np.zeros(len(positions))), eligible, query.filters, None
    )
    reasons = ["next on this reading list"] * len(draft)
    strategy = READING_LIST if history is not None else FALLBACK_READING_LIST
    return _finish(replace(draft, reasons=reasons).head(query.k), strategy, query.filters.library)


def _from_books(
    served: ServedModel,
    curation: CurationSet,
    books: Sequence[str],
    query: ListQuery,
    *,
    reason: Callable[[str], str],
    strategy: str,
) -> RankedList:
    """The per-book lists of `books` summed: each candidate's score is the sum of its scores in
    those lists, and its reason names the book whose list ranks it best."""
    k, scope = query.k, _scope(query.filters)
    catalog = served.catalog
    seen = catalog.positions(dict.fromkeys(books))
    eligible = allowed(served, curation, query.filters, scope, seen)
    totals = np.zeros(len(catalog), dtype=np.float64)
    source = np.full(len(catalog), -1, dtype=np.int64)
    best = np.zeros(len(catalog), dtype=np.float64)
    for position in seen.tolist():
        neighbours, row_scores = served.similar.row(position)
        totals[neighbours] += row_scores
        better = row_scores > best[neighbours]
        best[neighbours[better]] = row_scores[better]
        source[neighbours[better]] = position
    candidates = np.flatnonzero((totals > 0) & eligible)
    order = candidates[
        np.lexsort((-served.popular.fallback_scores[candidates], -totals[candidates]))
    ]
    if len(order) == 0:
        return _popular(served, curation, eligible, query, scope, FALLBACK_POPULAR)
    draft = _shown(served, _Draft.of(order, totals[order]), eligible, query.filters, None)
    draft = curate(served, curation, draft, eligible, scope, k)
    reasons = [
        r if r is not None else reason(_title(served, source[p]))
        for p, r in zip(draft.positions.tolist(), draft.reasons, strict=True)
    ]
    draft = _pad_popular(
        served, replace(draft, reasons=reasons), eligible, query.filters.library, k
    )
    return _finish(draft, strategy, query.filters.library)


def popular_list(served: ServedModel, curation: CurationSet, *, query: ListQuery) -> RankedList:
    """The most borrowed eligible books in the query's period, at its library if given."""
    scope = _scope(query.filters)
    eligible = allowed(served, curation, query.filters, scope)
    return _popular(served, curation, eligible, query, scope, POPULAR)


def group_list(
    served: ServedModel,
    curation: CurationSet,
    *,
    members: Sequence[tuple[str, LoanHistory]],
    past_reads: Sequence[str],
    query: ListQuery,
    held: np.ndarray | None = None,
) -> RankedList:
    """Suggestions for a group reading together (a book club): books none of the members has
    borrowed and none of the group's past reads, that each member's own list ranks well.

    Each consenting member's list (`reader_list`, as deep as the model's precomputed lists)
    gives every book a share of 1 / rank; books are ranked by the sum over members (what suits
    most of the group), the group's past reads adding their per-book lists as one more member.
    `held` narrows the books to those a branch can lend to a whole group.
    """
    k, scope = query.k, _scope(query.filters)
    catalog = served.catalog
    own = np.concatenate(
        [catalog.positions(history.never_shown()) for _, history in members]
        + [catalog.positions(past_reads)]
    )
    eligible = allowed(served, curation, query.filters, scope, own)
    if held is not None:
        eligible &= held
    deep = ListQuery(query.filters, min(READER_LIST_DEPTH, len(catalog)), query.period)
    totals = np.zeros(len(catalog), dtype=np.float64)
    for reader, history in members:
        member = reader_list(served, curation, reader=reader, history=history, query=deep)
        counted = member.strategy != FALLBACK_POPULAR
        ranks = np.arange(1, len(member.positions) + 1, dtype=np.float64)
        totals[member.positions] += (1.0 / ranks) if counted else 0.0
    if len(past_reads):
        shared = session_list(served, curation, viewed=past_reads, query=deep)
        if shared.strategy == SESSION:
            ranks = np.arange(1, len(shared.positions) + 1, dtype=np.float64)
            totals[shared.positions] += 1.0 / ranks
    candidates = np.flatnonzero((totals > 0) & eligible)
    if len(candidates) == 0:
        return _popular(served, curation, eligible, query, scope, FALLBACK_POPULAR)
    order = candidates[
        np.lexsort((-served.popular.fallback_scores[candidates], -totals[candidates]))
    ]
    draft = _shown(served, _Draft.of(order, totals[order]), eligible, query.filters, None)
    draft = curate(served, curation, draft, eligible, scope, k)
    reason = "suits the group's reading"
    draft = replace(draft, reasons=[r or reason for r in draft.reasons])
    draft = _pad_popular(served, draft, eligible, query.filters.library, k)
    return _finish(draft, GROUP, query.filters.library)


# ------------------------------------------------------------------------------- the steps
def allowed(
    served: ServedModel,
    curation: CurationSet,
    filters: ListFilters,
    scope: Scope,
    own: np.ndarray | None = None,
) -> np.ndarray:
    """A fresh mask of what a list may show: the catalog filters, minus `exclude` and every
    record of the works at `own` (the reader's, the session's or the page's books), minus
    books suppressed in `scope` and books never to be paired with those at `own`."""
    catalog = served.catalog
    mask = catalog.eligible(filters)
    if own is not None and len(own):
        mask[catalog.records_of(own)] = False
    if curation.empty:
        return mask
    hidden = curation.hidden(scope)
    if hidden is not None:
        mask &= ~hidden
    if own is not None and len(own):
        partners = curation.partners(own.tolist())
        if partners:
            mask[catalog.records_of(np.asarray(partners, dtype=np.int64))] = False
    return mask


def curate(
    served: ServedModel,
    curation: CurationSet,
    draft: _Draft,
    eligible: np.ndarray,
    scope: Scope,
    k: int,
    *,
    anchor: int | None = None,
) -> _Draft:
    """The librarians' rules on the candidates: boost/bury factors re-rank them, then pins and
    staff picks take their slots (an eligible book only: never one the list may not show)."""
    if curation.empty:
        return draft.head(k)
    factors = curation.factors(scope)
    if factors is not None and len(draft):
        scores = draft.scores * factors[draft.positions]
        order = np.argsort(-scores, kind="stable")
        draft = _Draft(draft.positions[order], scores[order], [draft.reasons[i] for i in order])
    pins = [p for p in curation.pins(scope, anchor) if eligible[p.position]]
    if not pins:
        return draft.head(k)
    works = served.catalog.works
    pinned_works = {int(works[p.position]) for p in pins}
    keep = [i for i, p in enumerate(draft.positions.tolist()) if int(works[p]) not in pinned_works]
    positions = draft.positions[keep].tolist()
    scores = draft.scores[keep].tolist()
    reasons = [draft.reasons[i] for i in keep]
    placed: set[int] = set()
    for pin in pins:
        if int(works[pin.position]) in placed:
            continue
        placed.add(int(works[pin.position]))
        slot = min(pin.slot - 1, len(positions))
        positions.insert(slot, pin.position)
        scores.insert(slot, scores[slot - 1] if 0 < slot <= len(scores) else 0.0)
        reasons.insert(slot, pin.reason)
    return _Draft(np.asarray(positions, dtype=np.int64), np.asarray(scores), reasons).head(k)


def _series_first(
    served: ServedModel,
    position: int,
    draft: _Draft,
    eligible: np.ndarray,
    filters: ListFilters,
    *,
    slots: int,
) -> tuple[_Draft, bool]:
    """The other volumes of the series of the book at `position` lead its page: the next volume,
    then the rest of the series (`SeriesIndex.volumes`), at most `slots` of them so that a long
    series leaves room for what readers borrowed, with their reasons and scores above the
    candidates' (a librarian's bury factor or pin still outranks them); the candidates follow,
    without those works. Also whether the page has a volume to show."""
    volumes = served.catalog.series.volumes(position)
    if len(volumes) == 0:
        return draft, False
    title = _title(served, position)
    positions = np.concatenate([volumes.following, volumes.others])
    reasons = [f"next in the series after {title}"] * len(volumes.following)
    reasons += [f"same series as {title}"] * len(volumes.others)
    top = max(float(draft.scores.max()), 0.0) if len(draft) else 0.0
    scores = top + np.arange(len(positions), 0, -1, dtype=np.float64)
    series = _shown(served, _Draft(positions, scores, reasons), eligible, filters, None).head(slots)
    if len(series) == 0:
        return draft, False
    works = served.catalog.works
    rest = ~np.isin(works[draft.positions], works[series.positions])
    kept = [r for r, keep in zip(draft.reasons, rest, strict=True) if keep]
    return _Draft(
        np.concatenate([series.positions, draft.positions[rest]]),
        np.concatenate([series.scores, draft.scores[rest]]),
        [*series.reasons, *kept],
    ), True


def _shown(
    served: ServedModel,
    draft: _Draft,
    eligible: np.ndarray,
    filters: ListFilters,
    language: str | None,
) -> _Draft:
    """One record per work, the one to show (`CatalogIndex.shown_records`), works with no
    eligible record dropped; the order and scores are the candidates', except that a list made
    for one member of a consortium puts the titles that member holds first (`_local_first`)."""
    shown = served.catalog.shown_records(
        draft.positions,
        eligible,
        popularity=served.popular.fallback_scores,
        library=filters.library,
        language=language,
    )
    keep = shown >= 0
    if not keep.all():
        draft = _Draft(
            shown[keep],
            draft.scores[keep],
            [r for r, ok in zip(draft.reasons, keep, strict=True) if ok],
        )
    else:
        draft = _Draft(shown, draft.scores, draft.reasons)
    return _local_first(served, draft, filters.library)


def _local_first(served: ServedModel, draft: _Draft, library: str | None) -> _Draft:
    """In a consortium, a member's list prefers the titles the member holds: they come first,
    in the candidates' order, then the titles other members hold."""
    catalog = served.catalog
    if not catalog.consortium or library is None or len(draft) == 0:
        return draft
    order = np.argsort(~catalog.held_at(library)[draft.positions], kind="stable")
    return _Draft(draft.positions[order], draft.scores[order], [draft.reasons[i] for i in order])


def _finish(draft: _Draft, strategy: str, library: str | None) -> RankedList:
    reasons = [r or "" for r in draft.reasons]
    return RankedList(
        draft.positions.astype(np.int64),
        draft.scores.astype(np.float64),
        reasons,
        strategy,
        library=library,
    )


# -------------------------------------------------------------------------- candidates
def _fetch_size(served: ServedModel, eligible: np.ndarray, k: int) -> int:
    """How deep a model list must be to hold k eligible books, unless filters are unlucky."""
    share = max(eligible.mean(), 1e-6) if len(eligible) else 1.0
    return max(min(len(served.catalog), math.ceil(k * OVERFETCH / share) + 10), 1)


@dataclass(frozen=True)
class _Wanted:
    """What a reader's candidates must give: k books to show, from model lists `fetch` deep,
    among the `eligible` ones (`shown` keeps one record per work to show)."""

    k: int
    fetch: int
    eligible: np.ndarray
    shown: Callable[[np.ndarray, np.ndarray], _Draft]


def _model_reader_list(
    served: ServedModel, reader: str, history: pd.DataFrame | None, wanted: _Wanted
) -> _Draft:
    """The model's list limited to what may be shown: over-fetch first, explicit candidates if
    that was not enough."""
    frame = served.model.recommend([reader], k=wanted.fetch, history=history)
    draft = wanted.shown(*_frame_positions(served, frame, C.BOOK_ID))
    if len(draft) >= wanted.k or len(frame) < wanted.fetch:  # enough, or the model has no more
        return draft
    return _candidates_reader_list(served, reader, history, wanted)


def _candidates_reader_list(
    served: ServedModel, reader: str, history: pd.DataFrame | None, wanted: _Wanted
) -> _Draft:
    candidates = served.catalog.book_ids[wanted.eligible].tolist()
    frame = served.model.recommend([reader], k=wanted.fetch, history=history, candidates=candidates)
    return wanted.shown(*_frame_positions(served, frame, C.BOOK_ID))


def _listed_reader_list(
    served: ServedModel, reader: str, listed: int, wanted: _Wanted, *, cheap: bool
) -> _Draft:
    """`_model_reader_list` answered from the precomputed list when it is deep enough: its
    first `fetch` rows are what the model would answer for k=fetch."""
    row, row_scores, count = served.readers.get(listed)
    if wanted.fetch > count and count >= READER_LIST_DEPTH:  # deeper than precomputed
        if cheap:
            raise SlowPath("the filters need a deeper list than the precomputed one")
        return _model_reader_list(served, reader, None, wanted)
    rows = min(wanted.fetch, count)
    positions, scores = row[:rows], row_scores[:rows]
    known = positions >= 0
    draft = wanted.shown(positions[known], scores[known])
    if len(draft) >= wanted.k or rows < wanted.fetch:
        return draft
    if cheap:
        raise SlowPath("the filters need the model's candidates")
    return _candidates_reader_list(served, reader, None, wanted)


def _frame_positions(
    served: ServedModel, frame: pd.DataFrame, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """A model answer's books that the catalog knows, as positions, with their scores."""
    lookup = served.catalog.position
    positions = np.asarray([lookup.get(b, -1) for b in frame[column].tolist()], dtype=np.int64)
    scores = frame[C.SCORE].to_numpy(dtype=np.float64)
    known = positions >= 0
    return positions[known], scores[known]


def _popular(
    served: ServedModel,
    curation: CurationSet,
    eligible: np.ndarray,
    query: ListQuery,
    scope: Scope,
    strategy: str,
) -> RankedList:
    """The popular list of the query's period and library, curated and padded."""
    period = query.period if strategy == POPULAR else PERIODS[0]
    library = query.filters.library
    positions, scores = served.popular.pick(
        period, library, eligible, _fetch_size(served, eligible, query.k)
    )
    reason = _popular_reason(library, period)
    draft = _shown(served, _Draft.of(positions, scores), eligible, query.filters, None)
    draft = curate(served, curation, draft, eligible, scope, query.k)
    draft = replace(draft, reasons=[r or reason for r in draft.reasons])
    return _finish(_pad_popular(served, draft, eligible, library, query.k), strategy, library)


# ------------------------------------------------------------------------------- padding
def _pad_subject(
    served: ServedModel, draft: _Draft, position: int, eligible: np.ndarray, k: int
) -> _Draft:
    """Fill with popular books that share a subject heading with the book at `position`."""
    same = served.subject_positions(position)
    if len(same) == 0:
        return draft
    rest = eligible.copy()
    rest[served.catalog.records_of(draft.positions)] = False
    same = same[rest[same]]
    same = same[np.argsort(-served.popular.fallback_scores[same], kind="stable")]
    extra = _one_per_work(served, same, draft.positions)[: k - len(draft)]
    return _Draft(
        np.concatenate([draft.positions, extra]),
        np.concatenate([draft.scores, np.zeros(len(extra))]),
        [*draft.reasons, *["popular in the same subject"] * len(extra)],
    )


def _pad_popular(
    served: ServedModel, draft: _Draft, eligible: np.ndarray, library: str | None, k: int
) -> _Draft:
    """Fill with popular eligible books (one record per work) up to k."""
    if len(draft) >= k:
        return draft.head(k)
    rest = eligible.copy()
    rest[served.catalog.records_of(draft.positions)] = False
    wanted = k - len(draft)
    extra, _ = served.popular.pick(PERIODS[0], library, rest, 4 * wanted + 8)
    extra = _one_per_work(served, extra, draft.positions)
    if len(extra) < wanted:
        more = served.popular.fallback_order[rest[served.popular.fallback_order]]
        extra = _one_per_work(served, np.concatenate([extra, more]), draft.positions)
    extra = extra[:wanted]
    reason = _popular_reason(library, PERIODS[0])
    return _Draft(
        np.concatenate([draft.positions, extra]).astype(np.int64),
        np.concatenate([draft.scores, np.zeros(len(extra))]),
        [*draft.reasons, *[reason] * len(extra)],
    )


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


# -------------------------------------------------------------------------------- explain
def _reader_reasons(
    served: ServedModel, draft: _Draft, history: LoanHistory, *, cheap: bool = False
) -> tuple[list[str | None], np.ndarray]:
    """ "Because you borrowed X" (read, liked): the latest book that feeds the reader's lists
    whose per-book list holds the suggestion; and that book's position per suggestion (-1:
    none, or a curated book, which keeps its reason).

    Read from the per-book lists, which costs microseconds where the model's `explain` costs
    milliseconds per book.
    """
    lookup = served.catalog.position
    how: dict[int, str] = {}
    for book_id, event in zip(history.latest_first(), history.events[::-1], strict=True):
        position = lookup.get(book_id)
        if position is not None and position not in how:
            how[position] = BECAUSE.get(event, BECAUSE_BORROWED)
    sources = list(how)[:REASON_SOURCES]
    similar = served.similar
    for book in sources:
        if not similar.is_ready(book):
            if cheap:
                raise NotReady("a per-book list is not computed yet")
            similar.row(book)  # computes it
    positions = draft.positions
    if sources and len(positions):
        # which source rows hold each suggestion; the first (latest) one explains it
        hits = (similar.positions[sources][:, :, None] == positions[None, None, :]).any(axis=1)
        first = hits.argmax(axis=0)
        source = np.where(hits.any(axis=0), np.asarray(sources)[first], -1).tolist()
    else:
        source = [-1] * len(positions)
    reasons: list[str | None] = [
        reason
        if reason is not None
        else (how[s].format(_title(served, s)) if s >= 0 else "suits what you borrowed")
        for s, reason in zip(source, draft.reasons, strict=True)
    ]
    behind = [s if reason is None else -1 for s, reason in zip(source, draft.reasons, strict=True)]
    return reasons, np.asarray(behind, dtype=np.int64)


def _book_reasons(served: ServedModel, position: int, draft: _Draft) -> list[str | None]:
    """Why each book is on the page of the book at `position`: the signal the model names
    (`Recommender.similar_signals`); curated books keep their reason."""
    catalog = served.catalog
    title = _title(served, position)
    ids = catalog.book_ids[draft.positions].tolist()
    signals = served.model.similar_signals(str(catalog.book_ids[position]), ids)
    author = catalog.authors[position]
    reasons: list[str | None] = []
    for shown, signal, reason in zip(draft.positions.tolist(), signals, draft.reasons, strict=True):
        if reason is None and signal == BORROWED_NEXT:
            reason = f"readers of {title} borrowed this next"
        elif reason is None and signal == BORROWED_TOO:
            reason = f"readers of {title} also borrowed this"
        elif reason is None and author and catalog.authors[shown] == author:
            reason = f"same author as {title}"
        elif reason is None:
            reason = f"similar subjects to {title}"
        reasons.append(reason)
    return reasons


def _popular_reason(library: str | None, period: str) -> str:
    where = f" at {library}" if library else ""
    when = "" if period == "all" else f" this {period}"
    return f"popular{where}{when}"


def _title(served: ServedModel, position: int) -> str:
    catalog = served.catalog
    return catalog.titles[position] or str(catalog.book_ids[position])


def _scope(filters: ListFilters) -> Scope:
    return Scope(filters.library, filters.audience)


def _usual_language(served: ServedModel, own: np.ndarray) -> str | None:
    """The language most of the reader's books are in (None: no catalog language known)."""
    if len(own) == 0:
        return None
    counts = Counter(served.catalog.language_of(own))
    counts.pop(None, None)
    return counts.most_common(1)[0][0] if counts else None
