"""Reference per-pair sums for the bit-exact checks of `ranking.Pairs` and fold-in weights.

The straightforward pandas grouping the models once used: fits now group pairs once
(`ranking.Pairs`), and these tests prove the sums did not change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.columns import Columns as C


def aggregate(
    interactions: pd.DataFrame, weights: np.ndarray, *, damp: bool = True
) -> pd.DataFrame:
    """Sum weights per (reader, book); `damp` applies ``log2(1 + sum)`` (one loan stays 1.0)."""
    # grouping one integer key is cheaper than grouping two string columns; the groups (in order
    # of first appearance) and their sums are the same
    readers, reader_ids = pd.factorize(interactions[C.READER_ID].astype(str))
    books, book_ids = pd.factorize(interactions[C.BOOK_ID].astype(str))
    known = (readers >= 0) & (books >= 0)  # a missing id is no group, as in pandas' groupby
    key = readers[known].astype(np.int64) * len(book_ids) + books[known]
    sums = pd.Series(np.asarray(weights)[known]).groupby(key, sort=False).sum()
    pair = sums.index.to_numpy(dtype=np.int64)
    summed = pd.DataFrame(
        {
            C.READER_ID: np.asarray(reader_ids, dtype=object)[pair // max(len(book_ids), 1)],
            C.BOOK_ID: np.asarray(book_ids, dtype=object)[pair % max(len(book_ids), 1)],
            C.WEIGHT: sums.to_numpy(),
        }
    )
    if damp:
        summed[C.WEIGHT] = np.log2(1.0 + summed[C.WEIGHT].to_numpy())
    return summed[summed[C.WEIGHT] > 0].reset_index(drop=True)
