"""The feedback rules (`recsys.curation.feedback.resolve`): the latest event per (reader, book,
kind) wins, an older one never undoes it, liked and not_interested take each other back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recsys.columns import Feedback
from recsys.curation.feedback import FeedbackEvent, resolve

LIKED, NOT_INTERESTED, READ = Feedback.LIKED, Feedback.NOT_INTERESTED, Feedback.ALREADY_READ


def test_a_given_feedback_is_stored_with_its_time() -> None:
    outcome = resolve({}, [FeedbackEvent("r", "b", LIKED, 10)])
    assert outcome.given == {("r", "b", LIKED): 10}
    assert outcome.removed == set() and outcome.applied == 1


def test_liked_and_not_interested_take_each_other_back_but_already_read_stays() -> None:
    stored = {("r", "b", LIKED): 5, ("r", "b", READ): 5}
    outcome = resolve(stored, [FeedbackEvent("r", "b", NOT_INTERESTED, 9)])
    assert outcome.given == {("r", "b", NOT_INTERESTED): 9}
    assert outcome.removed == {("r", "b", LIKED)}


def test_an_older_event_never_undoes_newer_feedback() -> None:
    stored = {("r", "b", LIKED): 50}
    older = [
        FeedbackEvent("r", "b", LIKED, 20, withdrawn=True),
        FeedbackEvent("r", "b", NOT_INTERESTED, 30),
    ]
    outcome = resolve(stored, older)
    assert (outcome.given, outcome.removed, outcome.applied) == ({}, set(), 0)


def test_at_one_time_not_interested_wins_over_liked_whatever_the_row_order() -> None:
    for events in (
        [FeedbackEvent("r", "b", LIKED, 7), FeedbackEvent("r", "b", NOT_INTERESTED, 7)],
        [FeedbackEvent("r", "b", NOT_INTERESTED, 7), FeedbackEvent("r", "b", LIKED, 7)],
    ):
        assert resolve({}, events).given == {("r", "b", NOT_INTERESTED): 7}


def test_a_withdrawal_removes_only_its_own_kind_and_book() -> None:
    stored = {("r", "b", LIKED): 5, ("r", "b", READ): 5, ("r", "c", LIKED): 5}
    outcome = resolve(stored, [FeedbackEvent("r", "b", LIKED, 6, withdrawn=True)])
    assert outcome.removed == {("r", "b", LIKED)} and outcome.given == {}


events = st.lists(
    st.builds(
        FeedbackEvent,
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(["b1", "b2"]),
        st.sampled_from(Feedback.ALL),
        st.integers(0, 40),
        st.booleans(),
    ),
    max_size=25,
)


def _apply(state: dict[tuple[str, str, str], int], batch: list[FeedbackEvent]) -> dict:
    outcome = resolve(state, batch)
    kept = {k: v for k, v in state.items() if k not in outcome.removed}
    return {**kept, **outcome.given}


@given(first=events, second=events)
def test_exports_in_time_order_end_like_one_export_of_all_their_rows(
    first: list[FeedbackEvent], second: list[FeedbackEvent]
) -> None:
    """A discovery layer exports its feedback day by day: ingesting the days one after the other
    stores what one export of all the rows (in any row order) would, and never both liked and
    not_interested for one book."""
    later = [FeedbackEvent(e.reader_id, e.book_id, e.kind, e.at + 100, e.withdrawn) for e in second]
    once = resolve({}, [*later[::-1], *first[::-1]])
    state = _apply(_apply({}, first), later)
    assert state == once.given
    assert not any((r, b, LIKED) in state and (r, b, NOT_INTERESTED) in state for r, b, _ in state)
