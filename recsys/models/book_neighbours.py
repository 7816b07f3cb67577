"""Plain book-to-book scores: the baselines a catalog page's list ("readers who borrowed this
also borrowed") is measured against (`recsys.evaluation.book_pages`).

Each `BookScorer` maps a batch of anchor books (indices of one `IdMap`) to dense scores over
every book; 0 means "no evidence". The collaborative ones obey the k rule the way the issue
that asked for them defines it: counts of pairs borrowed by at least k readers, or ALS and
item-KNN neighbours among books at least k readers borrowed (a weaker rule than the served
model's, which needs k readers behind every pair).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from implicit.als import AlternatingLeastSquares
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recsys.columns import SUBJECT_SEPARATOR, Events
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.models.knn import item_similarity
from recsys.models.matrix import IdMap, keep_columns, supported_books

BookScorer = Callable[[np.ndarray], np.ndarray]
#: Neighbours per book kept by the item-KNN baseline (implicit's default for its recommenders).
KNN_NEIGHBOURS = 100


def borrowed_matrix(dataset: Dataset, books: IdMap) -> sparse.csr_matrix:
    """Reader x book: 1 where the reader borrowed the book (loan events; views do not count)."""
    frame = dataset.interactions
    if C.EVENT in frame:
        frame = frame[frame[C.EVENT].fillna(Events.LOAN).isin(Events.LOAN_EVENTS)]
    column = books.index(frame[C.BOOK_ID].astype(str))
    reader, _ = pd.factorize(frame[C.READER_ID].astype(str))
    keep = column >= 0
    matrix = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (reader[keep], column[keep])),
        shape=(int(reader.max(initial=-1)) + 1, len(books)),
    )
    matrix.data[:] = 1.0  # a re-loan is the same reader
    return matrix


def co_borrowing_scorer(borrowed: sparse.csr_matrix, *, min_readers: int = 1) -> BookScorer:
    """How many readers borrowed both books, counted only where at least `min_readers` did."""
    by_book = borrowed.T.tocsr()

    def scores(anchors: np.ndarray) -> np.ndarray:
        counts = np.asarray((by_book[anchors] @ borrowed).todense(), dtype=np.float64)
        counts[counts < min_readers] = 0.0
        counts[np.arange(len(anchors)), anchors] = 0.0
        return counts

    return scores


def als_scorer(
    borrowed: sparse.csr_matrix, *, min_readers: int, seed: int | None = 0
) -> BookScorer:
    """Cosine of implicit ALS book factors (implicit's default parameters), fitted on the books
    at least `min_readers` readers borrowed, between such books only."""
    supported = supported_books(borrowed, min_readers)
    als = AlternatingLeastSquares(random_state=seed)
    als.fit(keep_columns(borrowed, supported), show_progress=False)
    factors = normalize(np.asarray(als.item_factors, dtype=np.float64))
    factors[~supported] = 0.0
    return _factor_scores(factors)


def bm25_scorer(borrowed: sparse.csr_matrix, *, min_readers: int) -> BookScorer:
    """implicit's BM25 item-KNN similarity between books at least `min_readers` readers
    borrowed."""
    supported = supported_books(borrowed, min_readers)
    similarity = item_similarity(
        keep_columns(borrowed, supported),
        similarity="bm25",
        neighbours=KNN_NEIGHBOURS,
        bm25_k1=1.2,
        bm25_b=0.75,
    )

    def scores(anchors: np.ndarray) -> np.ndarray:
        rows = np.asarray(similarity[anchors].todense(), dtype=np.float64)
        rows[:, ~supported] = 0.0
        rows[~supported[anchors]] = 0.0
        rows[np.arange(len(anchors)), anchors] = 0.0
        return np.clip(rows, 0.0, None)

    return scores


def catalog_scorer(catalog: pd.DataFrame, books: IdMap) -> BookScorer:
    """Catalog content only: the same author, shared subject headings (TF-IDF) and the same
    series, each an equal part of the cosine."""
    return _factor_scores(catalog_vectors(catalog, books))


def catalog_vectors(catalog: pd.DataFrame, books: IdMap) -> sparse.csr_matrix:
    """L2-normalised rows of author, subject and series features, one per book of `books`."""
    rows = books.index(catalog[C.BOOK_ID].astype(str))
    known = rows >= 0
    frame, rows = catalog.loc[known], rows[known]
    blocks = []
    for column in (C.AUTHOR, C.SUBJECTS, C.SERIES):
        if column not in frame or not frame[column].notna().any():
            continue
        texts = frame[column].fillna("").astype(str).tolist()
        vectorizer = TfidfVectorizer(analyzer=_headings, sublinear_tf=True)
        try:
            blocks.append(normalize(vectorizer.fit_transform(texts)))
        except ValueError:  # no heading in this field
            continue
    if not blocks:
        return sparse.csr_matrix((len(books), 1), dtype=np.float64)
    place = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(books), len(rows))
    )
    return normalize((place @ sparse.hstack(blocks).tocsr()).tocsr())


def _headings(text: str) -> list[str]:
    """A field's headings (authors, subjects, series statements), folded; a series number
    after a tab is dropped, so the volumes of one series share their heading."""
    return [
        h.split("\t")[0].strip().casefold()
        for h in text.replace("\n", SUBJECT_SEPARATOR).split(SUBJECT_SEPARATOR.strip())
        if h.split("\t")[0].strip()
    ]


def _factor_scores(vectors: np.ndarray | sparse.csr_matrix) -> BookScorer:
    """Scores as the dot product of L2-normalised book vectors (negative ones count as none)."""

    def scores(anchors: np.ndarray) -> np.ndarray:
        product = vectors[anchors] @ vectors.T
        dense = product.toarray() if sparse.issparse(product) else np.asarray(product)
        dense = np.clip(dense.astype(np.float64), 0.0, None)
        dense[np.arange(len(anchors)), anchors] = 0.0
        return dense

    return scores
