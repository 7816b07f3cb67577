"""The sample library's feedback: none by default (the files of a config stay as they were), and
when asked for, drawn from the readers' tastes like their loans, deterministic and plausible."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.columns import Events, Feedback
from recsys.sample import SampleConfig, SampleLibrary, generate_library, write_library


@pytest.fixture(scope="module")
def library() -> SampleLibrary:
    return generate_library(SampleConfig(n_loans=20_000, seed=7, feedback_share=0.3))


def _subject(library: SampleLibrary) -> pd.Series:
    return library.catalog.set_index(C.BOOK_ID)[C.SUBJECTS].str.split("; ").str[0]


def test_feedback_leaves_every_other_part_and_the_default_files_unchanged(
    library: SampleLibrary, tmp_path: Path
) -> None:
    plain = generate_library(SampleConfig(n_loans=20_000, seed=7))
    assert plain.feedback.empty
    for part in ("loans", "views", "catalog", "holdings", "categories"):
        pd.testing.assert_frame_equal(getattr(plain, part), getattr(library, part))
    assert "feedback" not in write_library(plain, tmp_path / "plain")
    written = write_library(library, tmp_path / "with")
    stored = pd.read_csv(written["feedback"][0], dtype=str)
    assert list(stored.columns) == [C.READER_ID, C.BOOK_ID, C.FEEDBACK_KIND, C.GIVEN_AT]
    assert len(stored) == len(library.feedback)
    again = write_library(
        generate_library(SampleConfig(n_loans=20_000, seed=7, feedback_share=0.3)),
        tmp_path / "again",
    )
    assert again["feedback"][0].read_bytes() == written["feedback"][0].read_bytes()


def test_about_the_share_of_readers_give_each_kind_of_feedback_once(
    library: SampleLibrary,
) -> None:
    feedback = library.feedback
    givers = feedback[C.READER_ID].nunique() / len(library.categories)  # every reader
    assert 0.25 < givers <= 0.3
    assert set(feedback[C.FEEDBACK_KIND]) == set(Feedback.ALL)
    assert not feedback.duplicated([C.READER_ID, C.BOOK_ID, C.FEEDBACK_KIND]).any()
    assert feedback[C.GIVEN_AT].is_monotonic_increasing
    assert feedback[C.GIVEN_AT].max() < pd.Timestamp(library.config.end, tz="UTC") + pd.Timedelta(
        days=1
    )


def test_liked_books_were_borrowed_and_already_read_books_were_not(
    library: SampleLibrary,
) -> None:
    loans = library.loans[library.loans[C.EVENT] == Events.LOAN]
    borrowed = set(zip(loans[C.READER_ID].astype(str), loans[C.BOOK_ID].astype(str), strict=True))
    feedback = library.feedback.astype({C.READER_ID: str, C.BOOK_ID: str, C.FEEDBACK_KIND: str})
    pairs = {
        kind: list(zip(rows[C.READER_ID], rows[C.BOOK_ID], strict=True))
        for kind, rows in feedback.groupby(C.FEEDBACK_KIND)
    }
    assert all(pair in borrowed for pair in pairs[Feedback.LIKED])
    assert not any(pair in borrowed for pair in pairs[Feedback.ALREADY_READ])


def test_liked_and_read_books_follow_the_readers_main_subjects_and_dismissed_ones_do_not(
    library: SampleLibrary,
) -> None:
    subject = _subject(library)
    loans = library.loans[library.loans[C.EVENT] == Events.LOAN]
    per_subject = pd.DataFrame(
        {
            "reader": loans[C.READER_ID].astype(str),
            "subject": loans[C.BOOK_ID].astype(str).map(subject),
        }
    ).value_counts()
    main = set(per_subject.groupby(level=0).head(2).index)  # each reader's two main subjects

    def share_in_main_subjects(kind: str) -> float:
        rows = library.feedback[library.feedback[C.FEEDBACK_KIND] == kind]
        books = rows[C.BOOK_ID].astype(str).map(subject)
        keys = zip(rows[C.READER_ID].astype(str), books, strict=True)
        return sum(key in main for key in keys) / max(len(rows), 1)

    assert share_in_main_subjects(Feedback.LIKED) > 0.8
    assert share_in_main_subjects(Feedback.ALREADY_READ) > 0.5
    assert share_in_main_subjects(Feedback.NOT_INTERESTED) < 0.1
    dismissed = library.feedback.loc[
        library.feedback[C.FEEDBACK_KIND] == Feedback.NOT_INTERESTED, C.BOOK_ID
    ].astype(str)
    popularity = loans[C.BOOK_ID].astype(str).value_counts()
    assert popularity.reindex(dismissed).fillna(0).median() > 1.5 * popularity.median()


def test_every_reader_has_the_category_of_their_audience_group(library: SampleLibrary) -> None:
    categories = library.categories
    assert categories[C.READER_ID].is_unique
    assert set(library.loans[C.READER_ID].astype(str)) <= set(categories[C.READER_ID])
    shares = categories[C.READER_CATEGORY].value_counts(normalize=True)
    assert shares["adult"] > 0.5 and shares["child"] > 0.1
