"""The validation a blend is chosen on: enough readers or none, a window widened until it holds
enough, at most a seeded sample of `MAX_VALIDATION_READERS` of them, and exactly their held-out
pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.evaluation.splits import new_pairs_split, random_holdout
from recsys.tuning.validation import (
    ENOUGH_VALIDATION_READERS,
    MAX_VALIDATION_READERS,
    MAX_WINDOW_WIDENING,
    MIN_VALIDATION_READERS,
    blend_validation,
)
from tests.models.test_fit_equivalence import messy_interactions

START = pd.Timestamp("2024-01-01", tz="UTC")


def readers_with_one_new_loan_each(n_readers: int) -> Dataset:
    """Each reader borrows one book early and another one a year later (the last half)."""
    readers = [f"r{i}" for i in range(n_readers)]
    return Dataset.from_interactions(
        pd.DataFrame(
            {
                C.READER_ID: readers * 2,
                C.BOOK_ID: [f"b{i % 97}" for i in range(n_readers)]
                + [f"b{(i + 1) % 97}" for i in range(n_readers)],
                C.TIMESTAMP: [START + pd.Timedelta(minutes=i) for i in range(n_readers)]
                + [START + pd.Timedelta(days=365)] * n_readers,
            }
        )
    )


def test_too_few_validation_readers_keep_the_given_blend() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=1, n=150))
    widest = new_pairs_split(dataset, test_share=0.1 * MAX_WINDOW_WIDENING).test
    assert 0 < widest[C.READER_ID].nunique() < MIN_VALIDATION_READERS
    assert blend_validation(dataset, share=0.1, seed=0) is None


def test_validation_readers_are_every_reader_with_new_pairs_in_their_order() -> None:
    dataset = Dataset.from_interactions(messy_interactions(seed=2, n=6000))
    split = new_pairs_split(dataset, test_share=0.5)
    validation = blend_validation(dataset, share=0.5, seed=0)
    assert validation is not None
    assert validation.readers.tolist() == list(pd.unique(split.test[C.READER_ID]))
    assert len(validation.readers) >= MIN_VALIDATION_READERS
    pd.testing.assert_frame_equal(validation.relevant, split.test[[C.READER_ID, C.BOOK_ID]])
    pd.testing.assert_frame_equal(validation.train.interactions, split.train.interactions)


def test_many_validation_readers_are_a_seeded_sample_in_id_order() -> None:
    dataset = readers_with_one_new_loan_each(MAX_VALIDATION_READERS + 500)
    validation = blend_validation(dataset, share=0.5, seed=3)
    assert validation is not None
    readers = validation.readers
    assert len(readers) == MAX_VALIDATION_READERS
    assert readers.tolist() == sorted(readers)
    assert set(validation.relevant[C.READER_ID]) == set(readers)
    assert len(validation.relevant) == MAX_VALIDATION_READERS  # one new pair each
    again = blend_validation(dataset, share=0.5, seed=3)
    other = blend_validation(dataset, share=0.5, seed=4)
    assert again is not None and other is not None
    assert np.array_equal(again.readers, readers)
    assert not np.array_equal(other.readers, readers)


def test_a_window_with_too_few_readers_is_widened_until_it_holds_enough() -> None:
    """Each reader borrows one book early and one more in the last half, one reader a minute:
    the last tenth of the loans holds 300 readers, the last four tenths 1,200."""
    n_readers = 1500
    readers = [f"r{i}" for i in range(n_readers)]
    dataset = Dataset.from_interactions(
        pd.DataFrame(
            {
                C.READER_ID: readers * 2,
                C.BOOK_ID: [f"b{i % 97}" for i in range(n_readers)]
                + [f"b{(i + 1) % 97}" for i in range(n_readers)],
                C.TIMESTAMP: [START + pd.Timedelta(minutes=i) for i in range(n_readers)]
                + [START + pd.Timedelta(days=365, minutes=i) for i in range(n_readers)],
            }
        )
    )
    held = {
        share: new_pairs_split(dataset, test_share=share).test[C.READER_ID].nunique()
        for share in (0.1, 0.3, 0.4)
    }
    assert held[0.1] < held[0.3] < ENOUGH_VALIDATION_READERS <= held[0.4]
    validation = blend_validation(dataset, share=0.1, seed=0)
    assert validation is not None
    widened = new_pairs_split(dataset, test_share=0.4)
    assert validation.readers.tolist() == list(pd.unique(widened.test[C.READER_ID]))
    pd.testing.assert_frame_equal(validation.train.interactions, widened.train.interactions)


def test_a_random_validation_holds_out_a_share_of_every_readers_loans_whatever_their_time() -> None:
    """Each reader borrows one book early and one a year later: the last loans are everyone's
    second, while a random holdout draws either of each reader's two loans."""
    dataset = readers_with_one_new_loan_each(400)
    validation = blend_validation(dataset, share=0.5, seed=5, method="random")
    assert validation is not None
    holdout = random_holdout(dataset, share=0.5, seed=5)
    pd.testing.assert_frame_equal(validation.relevant, holdout.test[[C.READER_ID, C.BOOK_ID]])
    pd.testing.assert_frame_equal(validation.train.interactions, holdout.train.interactions)
    assert validation.readers.tolist() == list(pd.unique(holdout.test[C.READER_ID]))
    early = dataset.interactions[C.TIMESTAMP] < START + pd.Timedelta(days=1)
    first_loans = set(
        zip(
            dataset.interactions.loc[early, C.READER_ID],
            dataset.interactions.loc[early, C.BOOK_ID],
            strict=True,
        )
    )
    held = set(zip(validation.relevant[C.READER_ID], validation.relevant[C.BOOK_ID], strict=True))
    assert 0 < len(held & first_loans) < len(held)  # both early and late loans are held out


def test_an_unknown_validation_method_is_refused() -> None:
    with pytest.raises(ValueError, match=r"method must be one of \['temporal', 'random'\]"):
        blend_validation(readers_with_one_new_loan_each(60), share=0.5, seed=0, method="weekly")
