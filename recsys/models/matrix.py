"""Id maps between external string ids and matrix indices, and the reader x book matrix."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import sparse

T = TypeVar("T")
B = TypeVar("B")


def map_blocks(
    function: Callable[[B], T],
    blocks: Sequence[B],
    done: Callable[[int], None] | None = None,
) -> list[T]:
    """`function` over `blocks` on every core, results in order; `done(blocks_finished)` is
    called in the caller's thread as each result comes in (for progress).

    For work that is mostly scipy sparse products and numpy array passes (block products of
    book x book matrices, batches of readers' lists): these release the GIL, so threads share
    the work (about twice as fast on two cores, measured) without copying the big matrices into
    other processes. Each running block holds its own temporaries, so peak memory grows with the
    cores: keep blocks small.
    """
    workers = min(len(blocks), os.cpu_count() or 1)
    if workers <= 1:
        return _collect(map(function, blocks), done)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return _collect(pool.map(function, blocks), done)


def _collect(results: Iterable[T], done: Callable[[int], None] | None) -> list[T]:
    collected: list[T] = []
    for result in results:
        collected.append(result)
        if done is not None:
            done(len(collected))
    return collected


class IdMap:
    """External string ids <-> contiguous indices.

    The ids are Python strings in an object array, so their memory is the sum of their lengths: a
    fixed-width numpy unicode array would give every id the width of the longest one (one stray
    50 MB id would cost 200 MB per id). `state` stores them for npz without pickle.
    """

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids: np.ndarray = _object_array(ids)
        self._index = pd.Index(self.ids, dtype=object)
        if not self._index.is_unique:
            raise ValueError("IdMap ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, ids: Iterable[str]) -> np.ndarray:
        """Indices of `ids`; -1 marks an id the map does not know."""
        values = _as_strings(ids)
        if len(values) == 0 or len(self.ids) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        return self._index.get_indexer(values).astype(np.int64)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    def position(self, item: str) -> int | None:
        """The index of one id (None: not in the map); for one id, cheaper than `index`."""
        try:
            found = self._index.get_loc(item)
        except (KeyError, TypeError):
            return None
        return found if isinstance(found, int) else None

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        """The ids as plain arrays under `prefix` (for npz): their UTF-8 text and, per id, where
        it ends in characters, so the stored size is the sum of the id lengths."""
        ends = np.cumsum([len(value) for value in self.ids], dtype=np.int64)
        text = "".join(self.ids.tolist()).encode("utf-8")
        return {
            f"{prefix}.utf8": np.frombuffer(text, dtype=np.uint8),
            f"{prefix}.ends": ends,
        }

    @classmethod
    def from_state(cls, prefix: str, arrays: Mapping[str, np.ndarray]) -> IdMap:
        """Inverse of `state`; also reads the unicode array older bundles stored as `prefix`."""
        if f"{prefix}.utf8" not in arrays:
            return cls(arrays[prefix].tolist())
        text = arrays[f"{prefix}.utf8"].tobytes().decode("utf-8")
        ends = arrays[f"{prefix}.ends"].tolist()
        return cls([text[start:end] for start, end in zip([0, *ends][:-1], ends, strict=True)])


def _object_array(ids: Iterable[str]) -> np.ndarray:
    values = ids if isinstance(ids, list) else list(ids)
    out = np.empty(len(values), dtype=object)
    out[:] = [str(value) for value in values]
    return out


def _as_strings(ids: Iterable[str]) -> np.ndarray | pd.Index:
    """`ids` as strings to look up. A column of strings is used as it is: iterating a pandas
    string column element by element costs most of a fit's id mapping at a million loans."""
    if (
        isinstance(ids, pd.Series | pd.Index)
        and not isinstance(ids.dtype, pd.CategoricalDtype)
        and pd.api.types.is_string_dtype(ids)
        and not ids.hasnans
    ):
        return pd.Index(ids)
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "UO":  # an IdMap's own ids, for one
        return ids
    return _object_array(ids)


def csr_state(prefix: str, matrix: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays under `prefix` (for npz)."""
    return {
        f"{prefix}.data": matrix.data,
        f"{prefix}.indices": matrix.indices,
        f"{prefix}.indptr": matrix.indptr,
        f"{prefix}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def csr_restore(prefix: str, arrays: dict[str, np.ndarray]) -> sparse.csr_matrix:
    """Inverse of `csr_state`."""
    shape = tuple(int(n) for n in arrays[f"{prefix}.shape"])
    return sparse.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=shape,
    )


def build_matrix(
    reader_index: np.ndarray, book_index: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """Sum weights into a float32 CSR reader x book matrix (duplicates added)."""
    matrix = sparse.csr_matrix(
        (weights.astype(np.float32), (reader_index, book_index)), shape=shape, dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


#: Up to this many rows `dense_product` accumulates with numpy; for more, scipy's product is faster.
SMALL_PRODUCT_ROWS = 8


def dense_product(rows: sparse.csr_matrix, matrix: sparse.csr_matrix) -> np.ndarray:
    """``(rows @ matrix).toarray()``, cheap when `rows` holds one or a few readers.

    scipy's sparse product sizes, allocates and checks a sparse result on every call, which costs
    more than the arithmetic for one reader's row. A few rows are accumulated straight into a
    dense array instead, adding in scipy's order, so both ways give equal values bit for bit.
    """
    if rows.shape[0] > SMALL_PRODUCT_ROWS:
        return (rows @ matrix).toarray()
    out = np.zeros((rows.shape[0], matrix.shape[1]), dtype=np.result_type(rows.dtype, matrix.dtype))
    for row in range(rows.shape[0]):
        start, end = rows.indptr[row], rows.indptr[row + 1]
        add_rows(out[row], rows.indices[start:end], rows.data[start:end], matrix)
    return out


def add_rows(
    out: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    matrix: sparse.csr_matrix,
    *,
    counts: np.ndarray | None = None,
) -> None:
    """``out += weights @ matrix[indices]``, adding the rows in the order of `indices`; `counts`,
    if given, gets one more for each of those rows with an entry in the column."""
    if len(indices) == 0:
        return
    starts = matrix.indptr[indices].tolist()
    ends = matrix.indptr[np.asarray(indices) + 1].tolist()
    columns = np.concatenate([matrix.indices[s:e] for s, e in zip(starts, ends, strict=True)])
    values = np.concatenate([matrix.data[s:e] for s, e in zip(starts, ends, strict=True)])
    lengths = np.subtract(ends, starts)
    np.add.at(out, columns, values * np.repeat(weights, lengths))
    if counts is not None:
        counts += np.bincount(columns, minlength=len(counts))[: len(counts)]


def column_counts(matrix: sparse.spmatrix) -> np.ndarray:
    """Stored entries per column (readers per book), counted without building the transposed
    matrix: at 10 million loans that costs over a second, each time a model is loaded."""
    rows = sparse.csr_matrix(matrix)
    return np.bincount(rows.indices, minlength=rows.shape[1])


def supported_books(matrix: sparse.spmatrix, min_readers: int) -> np.ndarray:
    """Mask of the books (columns) with entries from at least `min_readers` readers (rows)."""
    return column_counts(matrix) >= min_readers


def keep_columns(matrix: sparse.csr_matrix, columns: np.ndarray) -> sparse.csr_matrix:
    """`matrix` with every entry outside the `columns` mask removed (same shape, a copy)."""
    kept = matrix.tocsr(copy=True)
    kept.data[~columns[kept.indices]] = 0
    kept.eliminate_zeros()
    return kept


def top_per_row(matrix: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    """`matrix` with only the `n` largest entries of each row kept (ties: lower column)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    row = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, row))
    rank = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], lengths)
    keep = np.zeros(len(order), dtype=bool)
    keep[order[rank < n]] = True
    kept = sparse.csr_matrix(
        (matrix.data[keep], matrix.indices[keep], np.r_[0, np.cumsum(np.minimum(lengths, n))]),
        shape=matrix.shape,
    )
    kept.sort_indices()
    return kept
