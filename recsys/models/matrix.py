"""Id maps between external string ids and matrix indices, and the reader x book matrix."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse


class IdMap:
    """External string ids <-> contiguous indices; stored as a unicode array (npz-safe)."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids: np.ndarray = np.asarray(list(ids), dtype=str)
        self._index = pd.Index(self.ids)
        if not self._index.is_unique:
            raise ValueError("IdMap ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, ids: Iterable[str]) -> np.ndarray:
        """Indices of `ids`; -1 marks an id the map does not know."""
        values = np.asarray(list(ids), dtype=str)
        if len(values) == 0 or len(self.ids) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        return self._index.get_indexer(values).astype(np.int64)

    def __contains__(self, item: object) -> bool:
        return item in self._index


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
