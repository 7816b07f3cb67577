"""Ranking and beyond-accuracy metrics, per reader, vectorized over whole recommendation frames.

Definitions (K is the list length; a reader's *relevant* books are their held-out pairs):

- ``precision`` = hits / K per reader, averaged over readers (the usual definition, the one
  library-competition leaderboards and RecTools use). ``precision_implicit`` is the definition of
  ``implicit.evaluation.ranking_metrics_at_k``: all hits divided by the sum over readers of
  ``min(K, n_relevant)`` (pooled, so a reader with one relevant book is not capped at 1/K).
- ``recall`` = hits / n_relevant.
- ``ndcg`` = DCG / IDCG with gain ``1 / log2(rank + 1)`` and ``IDCG = sum of the first
  min(K, n_relevant) gains`` (as implicit).
- ``ap`` = sum over hit ranks r of ``hits_so_far / r``, divided by ``min(K, n_relevant)`` (as
  implicit); its mean is MAP.
- ``hit_rate`` = 1 when any relevant book is in the list; ``rr`` = 1 / rank of the first hit (its
  mean is MRR).
- ``coverage`` = distinct recommended books / books in the catalog.
- ``popular_share`` = share of recommended slots filled by the most popular 1 % of catalog books
  (popularity = distinct training readers).
- ``gini`` = Gini coefficient of how often each catalog book is recommended (0 = equal exposure,
  1 = one book takes every slot); books never recommended count as zeros.
- ``novelty`` = mean self-information ``-log2 p(book)`` of a reader's list, with ``p`` the share of
  training readers who borrowed the book, smoothed as ``(readers + 1) / (all readers + 1)`` so that
  books nobody borrowed have a finite value.
- ``diversity`` = 1 - mean pairwise Jaccard similarity of the subject sets in a list; pairs where a
  book has no subjects are skipped; a list with no such pair has no value (NaN).

Readers without any recommendation score zero on the ranking metrics (they are not dropped).

Works: a hit is counted by work (`by_work`): a reader who borrows any record of a suggested
work found it, and a second record of one work in a list is a slot that cannot be a hit. The
record-level figures (a hit only for the very record suggested) are reported beside them.

- ``repeated_work_lists`` = share of lists holding two records of one work.
- ``borrowed_work_lists`` = share of lists suggesting a work the reader borrowed in the
  training data (in any of its records).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.columns import SUBJECT_SEPARATOR, Events
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.data.works import works_of
from recsys.models.base import check_k

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")
BEYOND_ACCURACY = ("coverage", "popular_share", "gini", "novelty", "diversity")
PER_READER_COLUMNS = ("precision", "recall", "ndcg", "ap", "hit_rate", "rr")
ACTIVITY_BUCKETS = ("light", "medium", "heavy")
UNKNOWN = "unknown"


def top_k(recs: pd.DataFrame, k: int) -> pd.DataFrame:
    """The first `k` suggestions per reader by `rank` (or frame order), with positions 1..k."""
    frame = recs
    if C.RANK in recs.columns:
        frame = recs.sort_values([C.READER_ID, C.RANK], kind="stable")
    position = frame.groupby(C.READER_ID, sort=False).cumcount() + 1
    frame = frame.assign(position=position.to_numpy())
    return frame.loc[frame["position"] <= k].reset_index(drop=True)


def ranking_metrics(recs: pd.DataFrame, relevant: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """Per-reader ranking metrics for every reader in `relevant`.

    Parameters
    ----------
    recs
        ``[reader_id, book_id]`` plus ``rank`` (1 = best) if the frame is not already ordered.
    relevant
        ``[reader_id, book_id]`` held-out pairs (duplicates are ignored).
    k
        Cut-off; suggestions beyond rank k are ignored.

    Returns
    -------
    DataFrame indexed by ``reader_id`` with ``n_relevant, hits`` and the per-reader columns
    ``precision, recall, ndcg, ap, hit_rate, rr``.
    """
    k = check_k(k)
    pairs = relevant[[C.READER_ID, C.BOOK_ID]].astype(str).drop_duplicates()
    readers = pd.Index(pairs[C.READER_ID].unique(), name=C.READER_ID)
    n = len(readers)
    n_relevant = np.bincount(readers.get_indexer(pairs[C.READER_ID]), minlength=n)

    top = top_k(recs, k)
    codes = readers.get_indexer(top[C.READER_ID].astype(str))
    top = top.loc[codes >= 0]
    codes = codes[codes >= 0]
    books = pd.Index(pairs[C.BOOK_ID].unique())
    book_codes = books.get_indexer(top[C.BOOK_ID].astype(str))
    rel_keys = readers.get_indexer(pairs[C.READER_ID]).astype(np.int64) * len(books) + (
        books.get_indexer(pairs[C.BOOK_ID])
    )
    rec_keys = codes.astype(np.int64) * len(books) + book_codes
    is_hit = (book_codes >= 0) & np.isin(rec_keys, rel_keys)

    hit_reader = codes[is_hit]
    hit_pos = top["position"].to_numpy()[is_hit].astype(float)
    order = np.lexsort((hit_pos, hit_reader))
    hit_reader, hit_pos = hit_reader[order], hit_pos[order]
    first = (
        np.r_[True, hit_reader[1:] != hit_reader[:-1]] if len(hit_reader) else np.array([], bool)
    )
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(hit_reader)), 0))
    hits_so_far = np.arange(len(hit_reader)) - group_start + 1

    hits = np.bincount(hit_reader, minlength=n).astype(float)
    capped = np.minimum(k, n_relevant).astype(float)
    hit_at = np.zeros((n, k), dtype=bool)
    hit_at[hit_reader, hit_pos.astype(int) - 1] = True
    ap_sum = np.bincount(hit_reader, weights=hits_so_far / hit_pos, minlength=n)
    rr = np.zeros(n)
    rr[hit_reader[first]] = 1.0 / hit_pos[first]
    return pd.DataFrame(
        {
            "n_relevant": n_relevant,
            "hits": hits.astype(int),
            "precision": hits / k,
            "recall": hits / n_relevant,
            "ndcg": ndcg_from_hits(hit_at, n_relevant, k),
            "ap": ap_sum / capped,
            "hit_rate": (hits > 0).astype(float),
            "rr": rr,
        },
        index=readers,
    )


def by_work(recs: pd.DataFrame, work_of: pd.Series) -> pd.DataFrame:
    """Lists `recs` with each book id replaced by its work; a work already suggested higher in
    the same list fills a slot that can never be a hit.

    `work_of` maps book ids to works (`recsys.data.works.work_map`); a book it lacks is a work
    of its own.
    """
    frame = recs.sort_values([C.READER_ID, C.RANK], kind="stable") if C.RANK in recs else recs
    work = works_of(frame[C.BOOK_ID], work_of).to_numpy(dtype=object)
    repeated = _repeated(frame[C.READER_ID], work)
    work[repeated] = [f"repeat:{i}" for i in np.flatnonzero(repeated)]
    return frame.assign(**{C.BOOK_ID: work})


def relevant_works(relevant: pd.DataFrame, work_of: pd.Series) -> pd.DataFrame:
    """Held-out pairs with each book id replaced by its work (as `by_work` names them)."""
    return relevant.assign(**{C.BOOK_ID: works_of(relevant[C.BOOK_ID], work_of).to_numpy()})


def repeated_work_share(recs: pd.DataFrame, work_of: pd.Series) -> float:
    """Share of readers' lists holding two records of one work."""
    if recs.empty:
        return float("nan")
    work = works_of(recs[C.BOOK_ID], work_of).to_numpy(dtype=object)
    readers = recs[C.READER_ID].astype(str).to_numpy()
    repeated = pd.Series(_repeated(recs[C.READER_ID], work)).groupby(readers).any()
    return float(repeated.mean())


def borrowed_work_share(recs: pd.DataFrame, train: Dataset, work_of: pd.Series) -> float:
    """Share of readers' lists suggesting a work the reader borrowed in `train` (loans,
    renewals, holds), in any of its records."""
    if recs.empty:
        return float("nan")
    readers = recs[C.READER_ID].astype(str)
    # the listed readers' loans, found by id code: comparing ten million id strings takes seconds
    codes = train.id_codes
    listed = codes.reader_ids.get_indexer(pd.Index(readers.unique()))
    is_listed = np.zeros(len(codes.reader_ids) + 1, dtype=bool)  # the last: rows without reader
    is_listed[listed[listed >= 0]] = True
    loans = train.interactions[C.EVENT].isin(Events.LOAN_EVENTS).to_numpy()
    loans = loans & is_listed[codes.readers] & (codes.books >= 0)
    pairs = np.unique(np.stack([codes.readers[loans], codes.books[loans]]), axis=1)
    borrowed = pd.MultiIndex.from_arrays(
        [
            codes.reader_ids[pairs[0]].astype(str),
            works_of(codes.book_ids[pairs[1]], work_of).to_numpy(),
        ]
    )
    suggested = pd.MultiIndex.from_arrays(
        [readers.to_numpy(), works_of(recs[C.BOOK_ID], work_of).to_numpy()]
    )
    hit = pd.Series(suggested.isin(borrowed)).groupby(readers.to_numpy()).any()
    return float(hit.mean())


def _repeated(readers: pd.Series, works: np.ndarray) -> np.ndarray:
    """True for each row whose (reader, work) appeared in an earlier row."""
    pairs = pd.DataFrame({"reader": readers.astype(str).to_numpy(), "work": works})
    return pairs.duplicated().to_numpy()


def ndcg_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k per row of `hits` (readers x list positions 1, 2, ..., at most `k` of them; True
    where the book at that position is relevant), each reader having `n_relevant` relevant
    books (at least one).

    The one DCG / IDCG computation (see the module docstring), vectorised: `ranking_metrics`
    and blend tuning, which scores hundreds of trial lists per fit, share it.
    """
    if hits.ndim != 2 or hits.shape[1] > k:
        raise ValueError(f"hits must be readers x at most k={k} positions; got shape {hits.shape}")
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    return (hits * discount).sum(axis=1) / ideal[np.minimum(n_relevant, k) - 1]


def summarize_ranking(per_reader: pd.DataFrame, *, k: int) -> dict[str, float]:
    """Means over readers, named ``metric@k``; ``precision_implicit@k`` is pooled (see module)."""
    if per_reader.empty:
        return {f"{name}@{k}": float("nan") for name in (*RANKING_METRICS, "precision_implicit")}
    capped = np.minimum(k, per_reader["n_relevant"]).sum()
    return {
        f"precision@{k}": float(per_reader["precision"].mean()),
        f"precision_implicit@{k}": float(per_reader["hits"].sum() / capped),
        f"recall@{k}": float(per_reader["recall"].mean()),
        f"ndcg@{k}": float(per_reader["ndcg"].mean()),
        f"map@{k}": float(per_reader["ap"].mean()),
        f"hit_rate@{k}": float(per_reader["hit_rate"].mean()),
        f"mrr@{k}": float(per_reader["rr"].mean()),
    }


def book_popularity(train: Dataset) -> pd.Series:
    """Distinct readers per book over training loan events, 0 for catalog books never borrowed."""
    codes = train.id_codes
    loans = train.interactions[C.EVENT].isin(Events.LOAN_EVENTS).to_numpy()
    loans = loans & (codes.readers >= 0) & (codes.books >= 0)
    # distinct integer (reader, book) keys: deduplicating id strings takes 20 s at 10M loans
    n_books = len(codes.book_ids)
    pairs = np.unique(codes.readers[loans].astype(np.int64) * n_books + codes.books[loans])
    counts = pd.Series(np.bincount(pairs % max(n_books, 1), minlength=n_books))
    counts.index = pd.Index(codes.book_ids, name=C.BOOK_ID)
    return counts.reindex(train.books, fill_value=0).rename("readers")


def catalog_coverage(recs: pd.DataFrame, catalog_books: pd.Index) -> float:
    """Distinct recommended catalog books / catalog size."""
    if len(catalog_books) == 0:
        return float("nan")
    shown = pd.Index(recs[C.BOOK_ID].astype(str).unique())
    return float(catalog_books.isin(shown).sum() / len(catalog_books))


def exposure_counts(recs: pd.DataFrame, catalog_books: pd.Index) -> pd.Series:
    """How many lists each catalog book appears in (0 for never recommended)."""
    counts = recs[C.BOOK_ID].astype(str).value_counts()
    return counts.reindex(catalog_books, fill_value=0).rename("exposure")


def popular_share(recs: pd.DataFrame, popularity: pd.Series, *, top_share: float = 0.01) -> float:
    """Share of recommended slots taken by the top `top_share` of books by popularity."""
    if recs.empty:
        return float("nan")
    n_top = max(1, int(np.ceil(top_share * len(popularity))))
    ranked = popularity.sort_values(ascending=False, kind="stable")
    top = ranked.index[:n_top]
    return float(recs[C.BOOK_ID].astype(str).isin(top).mean())


def gini(values: Sequence[float] | np.ndarray | pd.Series) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, (n-1)/n when one holds all."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * x) / (n * x.sum()) - (n + 1) / n)


def novelty(recs: pd.DataFrame, popularity: pd.Series, *, n_readers: int) -> pd.Series:
    """Per reader: mean ``-log2 p(book)`` over their list (see module for the smoothing)."""
    counts = recs[C.BOOK_ID].astype(str).map(popularity).fillna(0).to_numpy(dtype=float)
    information = -np.log2((counts + 1.0) / (n_readers + 1.0))
    return (
        pd.Series(information, index=recs[C.READER_ID].astype(str).to_numpy())
        .groupby(level=0, sort=False)
        .mean()
        .rename("novelty")
    )


def intra_list_diversity(recs: pd.DataFrame, subjects: pd.Series) -> pd.Series:
    """Per reader: 1 - mean pairwise Jaccard of subject sets over pairs where both have subjects.

    `subjects` maps book id -> subject headings joined by ``"; "`` (the catalog format).
    """
    matrix, row_of = _subject_matrix(subjects)
    readers = recs[C.READER_ID].astype(str).to_numpy()
    rows = row_of.reindex(recs[C.BOOK_ID].astype(str).to_numpy()).to_numpy()
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    has = ~np.isnan(rows)
    has[has] = sizes[rows[has].astype(int)] > 0
    reader_codes, reader_index = pd.factorize(readers)
    keep_codes = reader_codes[has]
    keep_rows = rows[has].astype(int)
    order = np.argsort(keep_codes, kind="stable")
    keep_codes, keep_rows = keep_codes[order], keep_rows[order]
    left, right = _pairs_within_groups(keep_codes)
    result = pd.Series(np.nan, index=pd.Index(reader_index), name="diversity")
    if len(left) == 0:
        return result
    a, b = keep_rows[left], keep_rows[right]
    inter = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1)).ravel()
    jaccard = inter / (sizes[a] + sizes[b] - inter)
    pair_reader = keep_codes[left]
    total = np.bincount(pair_reader, weights=jaccard, minlength=len(reader_index))
    count = np.bincount(pair_reader, minlength=len(reader_index))
    with np.errstate(invalid="ignore", divide="ignore"):
        result[:] = np.where(count > 0, 1.0 - total / count, np.nan)
    return result


def reader_segments(
    train: Dataset,
    *,
    activity_bounds: tuple[int, int] = (5, 20),
    readers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Segments of every training reader (or of those among `readers`), for cutting metrics.

    - ``activity``: light (< bounds[0] training loans), medium, heavy (>= bounds[1]);
    - ``branch``: the library where the reader borrowed most (``unknown`` without library ids);
    - ``audience``: the catalog audience most of their borrowed books have (``unknown`` if none).
    Ties go to the smallest value, so segments are stable between runs.
    """
    low, high = activity_bounds
    if not 0 < low < high:
        raise ValueError(
            f"activity_bounds must be increasing positive loan counts; got {activity_bounds}"
        )
    frame = train.interactions
    if readers is not None:  # a reader's segments depend on their own rows only
        frame = frame.loc[frame[C.READER_ID].astype(str).isin(pd.Index(readers).astype(str))]
    loans = frame.loc[frame[C.EVENT].isin(Events.LOAN_EVENTS)]
    segmented = pd.Index(frame[C.READER_ID].astype(str).unique(), name=C.READER_ID)
    n_loans = loans.groupby(C.READER_ID).size().reindex(segmented, fill_value=0)
    activity = pd.cut(
        n_loans, bins=[-1, low - 1, high - 1, np.inf], labels=list(ACTIVITY_BUCKETS)
    ).astype(str)
    branch = _mode_per_reader(loans, loans[C.LIBRARY_ID], segmented)
    audience_of = _catalog_column(train.catalog, C.AUDIENCE)
    audience = _mode_per_reader(loans, loans[C.BOOK_ID].astype(str).map(audience_of), segmented)
    return pd.DataFrame(
        {"train_loans": n_loans, "activity": activity, "branch": branch, "audience": audience},
        index=segmented,
    )


def _mode_per_reader(loans: pd.DataFrame, values: pd.Series, readers: pd.Index) -> pd.Series:
    frame = pd.DataFrame(
        {C.READER_ID: loans[C.READER_ID].astype(str).to_numpy(), "value": values.to_numpy()}
    ).dropna()
    if frame.empty:
        return pd.Series(UNKNOWN, index=readers)
    frame["value"] = frame["value"].astype(str)
    counts = frame.groupby([C.READER_ID, "value"]).size().rename("n").reset_index()
    counts = counts.sort_values([C.READER_ID, "n", "value"], ascending=[True, False, True])
    best = counts.drop_duplicates(C.READER_ID).set_index(C.READER_ID)["value"]
    return best.reindex(readers).fillna(UNKNOWN)


def _catalog_column(catalog: pd.DataFrame, column: str) -> pd.Series:
    if column not in catalog.columns or catalog.empty:
        return pd.Series(dtype=object)
    return pd.Series(catalog[column].to_numpy(), index=catalog[C.BOOK_ID].astype(str).to_numpy())


def _subject_matrix(subjects: pd.Series) -> tuple[sparse.csr_matrix, pd.Series]:
    """Binary book x subject matrix (rows follow `subjects`' index) and book id -> row."""
    text = subjects.fillna("").astype(str)
    exploded = text.str.split(SUBJECT_SEPARATOR.strip()).explode().str.strip()
    exploded = exploded.loc[exploded != ""]
    book_ids = pd.Index(text.index.astype(str))
    row_of = pd.Series(np.arange(len(book_ids), dtype=float), index=book_ids)
    row_of = row_of.loc[~row_of.index.duplicated()]
    rows = row_of.reindex(exploded.index.astype(str)).to_numpy().astype(int)
    cols, _ = pd.factorize(exploded.str.lower())
    matrix = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)),
        shape=(len(book_ids), max(1, int(cols.max(initial=-1)) + 1)),
    )
    matrix.data[:] = 1.0  # a heading repeated in one record still counts once
    return matrix, row_of


def _pairs_within_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) with equal, contiguous group codes."""
    if len(codes) == 0:
        return np.array([], int), np.array([], int)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    left_parts, right_parts = [], []
    for size in np.unique(sizes[sizes > 1]):
        base = starts[sizes == size]
        i, j = np.triu_indices(size, k=1)
        left_parts.append((base[:, None] + i[None, :]).ravel())
        right_parts.append((base[:, None] + j[None, :]).ravel())
    if not left_parts:
        return np.array([], int), np.array([], int)
    return np.concatenate(left_parts), np.concatenate(right_parts)
