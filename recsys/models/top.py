"""Exact top-n of long score vectors without partitioning all of them.

A list needs the best few dozen of a catalog's scores; `numpy.argpartition` over 250,000 books
costs about 5 ms, most of a reader's list at 10 million loans. The maxima of blocks of scores
take one fast pass and point at the few blocks that can hold the top-n; only those are sorted.
"""

from __future__ import annotations

import numpy as np

BLOCK = 256


def largest(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` largest `values` (1-d, no NaN), best first; ties by lower index."""
    n = min(n, len(values))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    blocks = -(-len(values) // BLOCK)
    if blocks <= n:
        return np.lexsort((np.arange(len(values)), -values))[:n]
    whole = len(values) // BLOCK * BLOCK  # the last block may be shorter: its maximum apart
    maxima = values[:whole].reshape(-1, BLOCK).max(axis=1)
    if whole < len(values):
        maxima = np.append(maxima, values[whole:].max())
    # the n-th largest block maximum is a lower bound of the n-th largest value: n blocks each
    # hold a value at least that large. Every value at or above it lies in a block whose maximum
    # is at or above it, so those blocks hold the whole top-n, ties included.
    bound = np.partition(maxima, blocks - n)[blocks - n]
    chosen = np.flatnonzero(maxima >= bound)
    candidates = (chosen[:, None] * BLOCK + np.arange(BLOCK)).ravel()
    candidates = candidates[candidates < len(values)]
    candidates = candidates[values[candidates] >= bound]
    order = np.lexsort((candidates, -values[candidates]))[:n]
    return candidates[order]


def largest_per_row(values: np.ndarray, n: int) -> np.ndarray:
    """`largest` of each row of a 2-d array: a rows x min(n, columns) index array."""
    top = np.empty((values.shape[0], max(0, min(n, values.shape[1]))), dtype=np.int64)
    for row, out in zip(values, top, strict=True):
        out[:] = largest(row, n)
    return top
