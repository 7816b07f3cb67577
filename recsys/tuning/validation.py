"""The validation a model chooses its blend on: new (reader, book) pairs of the last loans of its
own training data (`recsys.evaluation.splits.new_pairs_split`), and the readers it is judged on.

A small library's last loans hold few readers, and its last weeks may be one season of its year
(a summer between semesters): a blend chosen on them follows their noise and their season. The
window is widened until it holds enough readers (`ENOUGH_VALIDATION_READERS`); a large library's
last loans hold them already, and its validation stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.splits import new_pairs_split, random_holdout

#: Fewer validation readers keep the given blend: their gains would be noise.
MIN_VALIDATION_READERS = 50
#: A validation window with fewer readers is widened by its share at a time, up to
#: `MAX_WINDOW_WIDENING` times its share (the inner fit keeps the loans before the window).
ENOUGH_VALIDATION_READERS = 1000
MAX_WINDOW_WIDENING = 5
#: More validation readers make smaller real gains visible above the noise; each costs a scoring
#: pass over the catalog (the cost is in `docs/quality.md`).
MAX_VALIDATION_READERS = 3000
#: The tuning's inner fit sees at most about this many interactions (a seeded sample of whole
#: readers beyond it): the full inner fit of a big library costs minutes, and the blend it
#: chooses depends on how the parts rank books, not on every reader being there.
MAX_VALIDATION_INTERACTIONS = 4_000_000
#: How the validation is carved: the last loans (what a library's lists are for: each reader's
#: next loans) or a random share of each reader's loans.
VALIDATION_METHODS = ("temporal", "random")


@dataclass(frozen=True)
class BlendValidation:
    """What a blend is chosen on: the data its inner fit trains on, the validation readers (in
    the order the tuning's resamples draw them) and their held-out ``[reader_id, book_id]``."""

    train: Dataset
    readers: np.ndarray
    relevant: pd.DataFrame


def blend_validation(
    dataset: Dataset, *, share: float, seed: int, method: str = "temporal"
) -> BlendValidation | None:
    """The new pairs of the last `share` of `dataset`'s loans, or of a wider window where that
    holds fewer than `ENOUGH_VALIDATION_READERS` readers (`share` wider at a time, at most
    `MAX_WINDOW_WIDENING` times `share` and less than all loans), on at most
    `MAX_VALIDATION_READERS` readers (a sample seeded by `seed`, in id order); None when fewer
    than `MIN_VALIDATION_READERS` readers have any.

    With `method` ``"random"``, the new pairs of a random `share` of each reader's loans
    instead (`recsys.evaluation.splits.random_holdout`, seeded by `seed`): for a model judged
    on loans drawn at random over a log rather than on the loans after it.
    """
    if method not in VALIDATION_METHODS:
        raise ValueError(f"method must be one of {list(VALIDATION_METHODS)}; got {method!r}")
    if method == "random":
        split = random_holdout(dataset, share=share, seed=seed)
        held = split.test[[C.READER_ID, C.BOOK_ID]]
        readers = np.asarray(pd.unique(held[C.READER_ID]), dtype=str)
    else:
        widest = max(1, min(MAX_WINDOW_WIDENING, int(np.ceil(1 / share)) - 1))
        for widening in range(1, widest + 1):
            split = new_pairs_split(
                dataset,
                test_share=share * widening,
                max_interactions=MAX_VALIDATION_INTERACTIONS,
                seed=seed,
            )
            held = split.test[[C.READER_ID, C.BOOK_ID]]
            readers = np.asarray(pd.unique(held[C.READER_ID]), dtype=str)
            if len(readers) >= ENOUGH_VALIDATION_READERS:
                break
    if len(readers) < MIN_VALIDATION_READERS:
        return None
    if len(readers) > MAX_VALIDATION_READERS:
        rng = np.random.default_rng(seed)
        readers = np.sort(rng.choice(readers, MAX_VALIDATION_READERS, replace=False))
        held = held[held[C.READER_ID].isin(readers)]
    return BlendValidation(train=split.train, readers=readers, relevant=held)
