"""Directional co-borrowing: "readers who borrowed A went on to borrow B".

Library reading follows courses, curricula and series, so what a reader borrows *after* a book
predicts the next loans better than symmetric co-occurrence alone. Counts are normalised by the
square root of each book's readers (cosine-like), so popular books do not dominate every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.models.matrix import IdMap
from recsys.models.weighting import timestamps_seconds


def sequence_matrix(
    interactions: pd.DataFrame, books: IdMap, *, window: int | None = 50, exponent: float = 0.5
) -> sparse.csr_matrix:
    """Book x book: how many readers borrowed the column book after the row book.

    Each reader's first loan of each book counts once; `window` caps how many later loans of a
    reader pair with each loan, which bounds the cost on heavy readers.
    """
    n_books = len(books)
    frame = interactions
    if C.EVENT in frame:
        frame = frame[frame[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS)]
    book = books.index(frame[C.BOOK_ID].astype(str))
    ordered = pd.DataFrame(
        {
            "reader": pd.factorize(frame[C.READER_ID].astype(str))[0],
            "book": book,
            "time": timestamps_seconds(frame[C.TIMESTAMP]) if C.TIMESTAMP in frame else 0.0,
        }
    )
    ordered = ordered[ordered["book"] >= 0].sort_values(["reader", "time", "book"], kind="stable")
    ordered = ordered.drop_duplicates(["reader", "book"])
    if ordered.empty:
        return sparse.csr_matrix((n_books, n_books), dtype=np.float32)
    readers = ordered["reader"].to_numpy()
    items = ordered["book"].to_numpy()
    position = np.arange(len(readers))
    boundaries = np.flatnonzero(np.diff(readers)) + 1
    ends = np.repeat(
        np.append(boundaries, len(readers)),
        np.diff(np.concatenate(([0], boundaries, [len(readers)]))),
    )
    later = ends - position - 1
    if window is not None:
        later = np.minimum(later, window)
    source = np.repeat(position, later)
    step = np.arange(len(source)) - np.repeat(np.cumsum(later) - later, later)
    target = source + 1 + step
    counts = sparse.csr_matrix(
        (np.ones(len(source), dtype=np.float32), (items[source], items[target])),
        shape=(n_books, n_books),
    )
    counts.sum_duplicates()
    readers_per_book = np.bincount(items, minlength=n_books).astype(np.float64)
    scale = sparse.diags(1.0 / np.power(np.maximum(readers_per_book, 1.0), exponent))
    matrix = (scale @ counts @ scale).tocsr().astype(np.float32)
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix
