"""`generate_library`: the whole sample library as DataFrames in the canonical input columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback, ReaderCategories
from recsys.data.dataset import Dataset
from recsys.sample import vocab
from recsys.sample.catalog import build_catalog, catalog_block_sampler
from recsys.sample.config import SampleConfig
from recsys.sample.events import active_loans, generate_loans, generate_views
from recsys.sample.feedback import generate_feedback
from recsys.sample.readers import build_readers

EVENT_NAMES = (Events.LOAN, Events.RENEWAL, Events.HOLD)
#: `recsys.sample.feedback`'s kind codes, in order.
FEEDBACK_NAMES = (Feedback.NOT_INTERESTED, Feedback.ALREADY_READ, Feedback.LIKED)
#: A reader's category by audience group (`recsys.sample.readers`: children, young adults, adults).
CATEGORY_NAMES = (ReaderCategories.CHILD, ReaderCategories.YOUNG_ADULT, ReaderCategories.ADULT)
# Independent streams, so that changing e.g. the number of sessions leaves the loans unchanged.
STREAM_CATALOG, STREAM_READERS, STREAM_LOANS, STREAM_VIEWS, STREAM_FEEDBACK = range(5)


@dataclass(frozen=True)
class SampleLibrary:
    """A generated library in the canonical input columns.

    Ids and categorical values are pandas categoricals (compact at 10 million rows); times are
    `datetime64[s, UTC]` and become ISO 8601 strings in the CSV files. Loans and views are sorted
    by time. An empty `copy_id` (holds, ebooks) or `reader_id` (anonymous views) is missing.
    `feedback` is the feedback export (empty unless `SampleConfig.feedback_share`); `categories`
    gives each reader's category (`reader_id`, `reader_category`), which no file carries.
    """

    config: SampleConfig
    loans: pd.DataFrame
    views: pd.DataFrame
    catalog: pd.DataFrame
    holdings: pd.DataFrame
    feedback: pd.DataFrame
    categories: pd.DataFrame


def generate_library(config: SampleConfig) -> SampleLibrary:
    """Generate catalog, holdings, loans (with renewals and holds), views and feedback for
    `config`.

    The same config always gives the same data (every random draw comes from `config.seed`).
    """
    catalog = build_catalog(config, _rng(config, STREAM_CATALOG))
    readers = build_readers(config, catalog, _rng(config, STREAM_READERS))
    sampler = catalog_block_sampler(catalog, config.branches, config.subjects)
    loans = generate_loans(config, catalog, readers, sampler, _rng(config, STREAM_LOANS))
    views = generate_views(config, catalog, readers, sampler, _rng(config, STREAM_VIEWS))
    feedback = generate_feedback(
        config, catalog, readers, sampler, loans, _rng(config, STREAM_FEEDBACK)
    )

    book_ids = pd.Index(catalog.frame[C.BOOK_ID].to_numpy(), dtype=object)
    reader_ids = pd.Index(readers.ids, dtype=object)
    libraries = pd.Index(vocab.BRANCHES[: config.branches], dtype=object)
    used_copies, copy_codes = np.unique(loans.copy, return_inverse=True)
    if len(used_copies) and used_copies[0] < 0:
        used_copies, copy_codes = used_copies[1:], copy_codes - 1
    loan_frame = pd.DataFrame(
        {
            C.READER_ID: pd.Categorical.from_codes(loans.reader, categories=reader_ids),
            C.BOOK_ID: pd.Categorical.from_codes(loans.book, categories=book_ids),
            C.BORROWED_AT: _utc(loans.time),
            C.EVENT: pd.Categorical.from_codes(loans.event, categories=pd.Index(EVENT_NAMES)),
            C.LIBRARY_ID: pd.Categorical.from_codes(loans.library, categories=libraries),
            C.COPY_ID: pd.Categorical.from_codes(
                copy_codes.astype(np.int64),
                categories=pd.Index(_barcodes(used_copies), dtype=object),
            ),
        }
    )
    sessions, session_codes = np.unique(views.session, return_inverse=True)
    view_frame = pd.DataFrame(
        {
            C.SESSION_ID: pd.Categorical.from_codes(
                session_codes,
                categories=pd.Index([f"{s:016x}" for s in sessions.tolist()], dtype=object),
            ),
            C.BOOK_ID: pd.Categorical.from_codes(views.book, categories=book_ids),
            C.VIEWED_AT: _utc(views.time),
            C.READER_ID: pd.Categorical.from_codes(views.reader, categories=reader_ids),
        }
    )
    held_branch, held_book = np.nonzero(catalog.copies)
    copies = catalog.copies[held_branch, held_book]
    out = active_loans(config, catalog, loans)[held_branch, held_book]
    order = np.lexsort((held_branch, held_book))
    holdings = pd.DataFrame(
        {
            C.BOOK_ID: book_ids[held_book[order]],
            C.LIBRARY_ID: libraries[held_branch[order]],
            C.COPIES: copies[order].astype(np.int64),
            C.AVAILABLE: np.maximum(copies - out, 0)[order].astype(np.int64),
        }
    )
    feedback_frame = pd.DataFrame(
        {
            C.READER_ID: pd.Categorical.from_codes(feedback.reader, categories=reader_ids),
            C.BOOK_ID: pd.Categorical.from_codes(feedback.book, categories=book_ids),
            C.FEEDBACK_KIND: pd.Categorical.from_codes(
                feedback.kind, categories=pd.Index(FEEDBACK_NAMES)
            ),
            C.GIVEN_AT: _utc(feedback.time),
        }
    )
    categories = pd.DataFrame(
        {
            C.READER_ID: reader_ids,
            C.READER_CATEGORY: pd.Categorical.from_codes(
                readers.group.astype(np.int64), categories=pd.Index(CATEGORY_NAMES)
            ),
        }
    )
    return SampleLibrary(
        config=config,
        loans=loan_frame,
        views=view_frame,
        catalog=catalog.frame,
        holdings=holdings,
        feedback=feedback_frame,
        categories=categories,
    )


def library_dataset(library: SampleLibrary) -> Dataset:
    """The library as models train on it: loans, renewals, holds and logged-in views."""
    loans = library.loans
    views = library.views.dropna(subset=[C.READER_ID])
    interactions = pd.concat(
        [
            pd.DataFrame(
                {
                    C.READER_ID: loans[C.READER_ID].astype(str),
                    C.BOOK_ID: loans[C.BOOK_ID].astype(str),
                    C.EVENT: loans[C.EVENT].astype(str),
                    C.TIMESTAMP: loans[C.BORROWED_AT],
                    C.LIBRARY_ID: loans[C.LIBRARY_ID].astype(str),
                }
            ),
            pd.DataFrame(
                {
                    C.READER_ID: views[C.READER_ID].astype(str),
                    C.BOOK_ID: views[C.BOOK_ID].astype(str),
                    C.EVENT: Events.VIEW,
                    C.TIMESTAMP: views[C.VIEWED_AT],
                }
            ),
        ],
        ignore_index=True,
    )
    return Dataset.from_interactions(
        interactions, catalog=library.catalog, holdings=library.holdings
    )


def _rng(config: SampleConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")


def _barcodes(serials: np.ndarray) -> list[str]:
    """Copy barcodes: 14 digits starting with 3, as printed on library items."""
    return [f"3{1_000_000 + s:013d}" for s in serials.tolist()]
