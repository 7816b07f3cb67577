"""`generate_library`: the whole sample library as DataFrames in the canonical input columns."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback, ReaderCategories
from recsys.data.dataset import Dataset
from recsys.sample import vocab
from recsys.sample.catalog import Catalog, build_catalog, catalog_block_sampler
from recsys.sample.config import SampleConfig
from recsys.sample.events import (
    LoanEvents,
    ViewEvents,
    active_loans,
    generate_loans,
    generate_views,
)
from recsys.sample.feedback import FeedbackEvents, generate_feedback
from recsys.sample.members import (
    MISSING_ISBN,
    Members,
    build_members,
    generate_member_loans,
    generate_member_views,
    records_out,
)
from recsys.sample.readers import Readers, build_readers

EVENT_NAMES = (Events.LOAN, Events.RENEWAL, Events.HOLD)
#: `recsys.sample.feedback`'s kind codes, in order.
FEEDBACK_NAMES = (Feedback.NOT_INTERESTED, Feedback.ALREADY_READ, Feedback.LIKED)
#: A reader's category by audience group (`recsys.sample.readers`: children, young adults, adults).
CATEGORY_NAMES = (ReaderCategories.CHILD, ReaderCategories.YOUNG_ADULT, ReaderCategories.ADULT)
# Independent streams, so that changing e.g. the number of sessions leaves the loans unchanged.
STREAM_CATALOG, STREAM_READERS, STREAM_LOANS, STREAM_VIEWS, STREAM_FEEDBACK = range(5)
STREAM_MEMBERS, STREAM_RECORDS = 5, 6


@dataclass(frozen=True)
class SampleLibrary:
    """A generated library in the canonical input columns.

    Ids and categorical values are pandas categoricals (compact at 10 million rows); times are
    `datetime64[s, UTC]` and become ISO 8601 strings in the CSV files. Loans and views are sorted
    by time. An empty `copy_id` (holds, ebooks) or `reader_id` (anonymous views) is missing.
    `feedback` is the feedback export (empty unless `SampleConfig.feedback_share`); `categories`
    gives each reader's category (`reader_id`, `reader_category`), which no file carries.
    `record_works` (a consortium's) is the work of each record (``book_id`` -> ``W000123``) as the
    generator made it: its catalog has no `work_id`, ingest derives the works from ISBNs, titles
    and authors; None for a library of branches, whose catalog carries `work_id`.
    """

    config: SampleConfig
    loans: pd.DataFrame
    views: pd.DataFrame
    catalog: pd.DataFrame
    holdings: pd.DataFrame
    feedback: pd.DataFrame
    categories: pd.DataFrame
    record_works: pd.Series | None = None


def generate_library(config: SampleConfig) -> SampleLibrary:
    """Generate catalog, holdings, loans (with renewals and holds), views and feedback for
    `config` (a consortium's when `config.n_members` is set).

    The same config always gives the same data (every random draw comes from `config.seed`).
    """
    if config.n_members is not None:
        return _generate_consortium(config)
    catalog = build_catalog(config, _rng(config, STREAM_CATALOG))
    readers = build_readers(config, catalog, catalog.branch_share, _rng(config, STREAM_READERS))
    sampler = catalog_block_sampler(catalog, config.branches, config.subjects)
    loans = generate_loans(config, catalog, readers, sampler, _rng(config, STREAM_LOANS))
    views = generate_views(config, catalog, readers, sampler, _rng(config, STREAM_VIEWS))
    feedback = generate_feedback(
        config, catalog, readers, sampler, loans, _rng(config, STREAM_FEEDBACK)
    )

    book_ids = pd.Index(catalog.frame[C.BOOK_ID].to_numpy(), dtype=object)
    reader_ids = pd.Index(readers.ids, dtype=object)
    libraries = pd.Index(vocab.BRANCHES[: config.branches], dtype=object)
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
    return SampleLibrary(
        config=config,
        loans=_loan_frame(loans, book_ids, reader_ids, libraries),
        views=_view_frame(views, book_ids, reader_ids),
        catalog=catalog.frame,
        holdings=holdings,
        feedback=_feedback_frame(feedback, book_ids, reader_ids),
        categories=_categories(readers, reader_ids),
    )


def _generate_consortium(config: SampleConfig) -> SampleLibrary:
    """A consortium (`recsys.sample.members`): the union catalog's editions drawn as one
    library's, then members' records, readers, loans and views."""
    catalog = build_catalog(replace(config, n_branches=1), _rng(config, STREAM_CATALOG))
    members = build_members(config, catalog, _rng(config, STREAM_MEMBERS))
    readers = build_readers(config, catalog, members.share, _rng(config, STREAM_READERS))
    sampler = catalog_block_sampler(catalog, 1, config.subjects)
    loans = generate_member_loans(
        config, catalog, members, readers, sampler, _rng(config, STREAM_LOANS)
    )
    views = generate_member_views(
        config, catalog, members, readers, sampler, _rng(config, STREAM_VIEWS)
    )
    records = _record_frame(catalog, members, _rng(config, STREAM_RECORDS))
    book_ids = pd.Index(records[C.BOOK_ID].to_numpy(), dtype=object)
    reader_ids = pd.Index(readers.ids, dtype=object)
    libraries = pd.Index(members.names, dtype=object)
    holdings = pd.DataFrame(
        {
            C.BOOK_ID: book_ids,
            C.LIBRARY_ID: libraries[members.record_member],
            C.COPIES: members.copies.astype(np.int64),
            C.AVAILABLE: np.maximum(members.copies - records_out(config, members, loans), 0).astype(
                np.int64
            ),
        }
    )
    no_feedback = FeedbackEvents(
        reader=np.empty(0, np.int32),
        book=np.empty(0, np.int32),
        kind=np.empty(0, np.int8),
        time=np.empty(0, np.int64),
    )
    return SampleLibrary(
        config=config,
        loans=_loan_frame(loans, book_ids, reader_ids, libraries),
        views=_view_frame(views, book_ids, reader_ids),
        catalog=records,
        holdings=holdings,
        feedback=_feedback_frame(no_feedback, book_ids, reader_ids),
        categories=_categories(readers, reader_ids),
        record_works=pd.Series(
            catalog.frame[C.WORK_ID].to_numpy()[members.record_edition],
            index=pd.Index(book_ids, name=C.BOOK_ID),
            name=C.WORK_ID,
        ),
    )


def _record_frame(catalog: Catalog, members: Members, rng: np.random.Generator) -> pd.DataFrame:
    """The members' records in the catalog's columns: each its edition's title, author, subjects
    and ISBN (`members.MISSING_ISBN` of them without), its own book id, no `work_id`."""
    frame = catalog.frame.take(members.record_edition).reset_index(drop=True)
    first = np.searchsorted(members.record_member, np.arange(len(members.names)))
    serial = np.arange(members.n_records) - first[members.record_member] + 1
    names = members.names[members.record_member]
    frame[C.BOOK_ID] = [
        f"{m}-B{s:06d}" for m, s in zip(names.tolist(), serial.tolist(), strict=True)
    ]
    isbn = frame[C.ISBN].to_numpy(dtype=object)
    isbn[rng.random(len(frame)) < MISSING_ISBN] = ""
    frame[C.ISBN] = isbn
    frame[C.WORK_ID] = None
    return frame


def _loan_frame(
    loans: LoanEvents, book_ids: pd.Index, reader_ids: pd.Index, libraries: pd.Index
) -> pd.DataFrame:
    used_copies, copy_codes = np.unique(loans.copy, return_inverse=True)
    if len(used_copies) and used_copies[0] < 0:
        used_copies, copy_codes = used_copies[1:], copy_codes - 1
    return pd.DataFrame(
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


def _view_frame(views: ViewEvents, book_ids: pd.Index, reader_ids: pd.Index) -> pd.DataFrame:
    sessions, session_codes = np.unique(views.session, return_inverse=True)
    return pd.DataFrame(
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


def _feedback_frame(
    feedback: FeedbackEvents, book_ids: pd.Index, reader_ids: pd.Index
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.READER_ID: pd.Categorical.from_codes(feedback.reader, categories=reader_ids),
            C.BOOK_ID: pd.Categorical.from_codes(feedback.book, categories=book_ids),
            C.FEEDBACK_KIND: pd.Categorical.from_codes(
                feedback.kind, categories=pd.Index(FEEDBACK_NAMES)
            ),
            C.GIVEN_AT: _utc(feedback.time),
        }
    )


def _categories(readers: Readers, reader_ids: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.READER_ID: reader_ids,
            C.READER_CATEGORY: pd.Categorical.from_codes(
                readers.group.astype(np.int64), categories=pd.Index(CATEGORY_NAMES)
            ),
        }
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
    catalog = library.catalog
    if (
        library.record_works is not None
    ):  # the works ingest derives (tests/test_sample_consortium.py)
        catalog = catalog.assign(**{C.WORK_ID: library.record_works.to_numpy()})
    return Dataset.from_interactions(interactions, catalog=catalog, holdings=library.holdings)


def _rng(config: SampleConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")


def _barcodes(serials: np.ndarray) -> list[str]:
    """Copy barcodes: 14 digits starting with 3, as printed on library items."""
    return [f"3{1_000_000 + s:013d}" for s in serials.tolist()]
