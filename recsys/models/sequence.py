"""Directional co-borrowing: "readers who borrowed A went on to borrow B".

Library reading follows courses, curricula and series, so what a reader borrows *after* a book
predicts the next loans better than symmetric co-occurrence alone. Counts are normalised by the
square root of each book's readers (cosine-like), so popular books do not dominate every row.
A pair that fewer than `min_readers` readers borrowed in that order is left out, so that a list
built on it never reveals what a few readers borrowed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.models.matrix import map_blocks
from recsys.models.ranking import Pairs
from recsys.models.weighting import timestamps_seconds

PAIRS_PER_CHUNK = 20_000_000
SCALE_ROWS = 8192


def sequence_matrix(
    interactions: pd.DataFrame,
    pairs: Pairs,
    *,
    window: int | None = 50,
    exponent: float = 0.5,
    min_readers: int = 1,
) -> sparse.csr_matrix:
    """Book x book: how many readers borrowed the column book after the row book, where at least
    `min_readers` did.

    Each reader's first loan of each book counts once, so a count is of distinct readers; `window`
    caps how many later loans of a reader pair with each loan, which bounds the cost on heavy
    readers (a pair beyond it goes uncounted, so the threshold only ever errs towards leaving
    a pair out). Readers and books come
    from the fit's grouped `pairs` (looking string ids up again cost 10 s a fit at 10 million
    loans); an interaction without a reader or book id pairs with nothing.
    """
    n_books = pairs.n_books
    group = pairs.group
    reader = pairs.reader_code[group]
    book = pairs.book_column[pairs.book_code[group]]
    keep = book >= 0
    if C.EVENT in interactions:
        events = interactions[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS).to_numpy()
        keep &= events[pairs.known]
    if C.TIMESTAMP in interactions:
        time = timestamps_seconds(interactions[C.TIMESTAMP])[pairs.known]
    else:
        time = np.zeros(len(group))
    reader, book, time = reader[keep], book[keep], time[keep]
    # by reader, then time, then book (a stable sort: NaN times last); each pair at its first loan
    order = np.lexsort((book, time, reader))
    _, first = np.unique(reader[order] * np.int64(n_books) + book[order], return_index=True)
    order = order[np.sort(first)]
    if len(order) == 0:
        return sparse.csr_matrix((n_books, n_books), dtype=np.float32)
    readers = reader[order]
    items = book[order].astype(np.int32)
    position = np.arange(len(readers))
    boundaries = np.flatnonzero(np.diff(readers)) + 1
    ends = np.repeat(
        np.append(boundaries, len(readers)),
        np.diff(np.concatenate(([0], boundaries, [len(readers)]))),
    )
    later = ends - position - 1
    if window is not None:
        later = np.minimum(later, window)
    counts = _pair_counts(items, later, n_books)
    if min_readers > 1:
        counts.data[counts.data < min_readers] = 0
        counts.eliminate_zeros()
    readers_per_book = np.bincount(items, minlength=n_books).astype(np.float64)
    return _scaled(counts, 1.0 / np.power(np.maximum(readers_per_book, 1.0), exponent))


def _pair_counts(items: np.ndarray, later: np.ndarray, n_books: int) -> sparse.csr_matrix:
    """Book x book counts of ``(items[p], items[p + 1 + s])`` for ``s < later[p]``.

    The pairs are made a block of source books at a time (at most about `PAIRS_PER_CHUNK` pairs):
    at ten million loans there are hundreds of millions of them, too many to hold as coordinate
    arrays at once. The blocks are row ranges of the result, so they are stacked, never summed.
    """
    order = np.argsort(items, kind="stable")
    books_in_order = items[order]
    pairs = np.cumsum(later[order])
    # a block ends where the source book changes, so every row is built whole
    changes = np.flatnonzero(np.diff(books_in_order)) + 1
    wanted = np.searchsorted(pairs, np.arange(PAIRS_PER_CHUNK, pairs[-1], PAIRS_PER_CHUNK))
    cuts = np.empty(0, dtype=np.int64)
    if len(changes) and len(wanted):
        cuts = np.unique(changes[np.minimum(np.searchsorted(changes, wanted), len(changes) - 1)])
    bounds = np.r_[0, cuts, len(order)]
    first_book = np.r_[0, books_in_order[cuts], n_books]

    def block(bound: tuple[int, int, int, int]) -> sparse.csr_matrix:
        start, stop, low, high = bound
        positions = order[start:stop]
        span = later[positions]
        source = np.repeat(positions, span)
        step = np.arange(len(source)) - np.repeat(np.cumsum(span) - span, span)
        counts = sparse.csr_matrix(
            (
                np.ones(len(source), dtype=np.float32),
                (items[source] - low, items[source + 1 + step]),
            ),
            shape=(high - low, n_books),
        )
        counts.sum_duplicates()
        return counts

    bounds_of_blocks = list(
        zip(bounds[:-1], bounds[1:], first_book[:-1], first_book[1:], strict=True)
    )
    counts = sparse.vstack(map_blocks(block, bounds_of_blocks), format="csr")
    counts.sort_indices()
    return counts


def _scaled(counts: sparse.csr_matrix, scale: np.ndarray) -> sparse.csr_matrix:
    """``diag(scale) @ counts @ diag(scale)`` as float32, multiplying in that order, a block of
    rows at a time (full-size float64 temporaries would dominate peak memory)."""
    data = np.empty(counts.nnz, dtype=np.float32)
    lengths = np.diff(counts.indptr)
    for low in range(0, counts.shape[0], SCALE_ROWS):
        high = min(low + SCALE_ROWS, counts.shape[0])
        a, b = counts.indptr[low], counts.indptr[high]
        values = np.repeat(scale[low:high], lengths[low:high]) * counts.data[a:b]
        data[a:b] = values * scale[counts.indices[a:b]]
    # a reader's books are distinct, so the diagonal is empty and every count is positive
    matrix = sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix
