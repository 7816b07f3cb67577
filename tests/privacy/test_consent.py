"""Consent rules: opt-in / opt-out, newest answer wins, sessions stay anonymous without consent."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import (
    detach_unconsented_sessions,
    filter_training_data,
    load_consent,
    may_personalize,
    parse_consent,
    set_consent,
)
from recsys.data.dataset import Dataset
from recsys.db.tables import views


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("yes", True), ("NO", False), ("true", True), ("False", False), ("1", True), (" 0 ", False)],
)
def test_consent_answers_are_parsed(answer: str, expected: bool) -> None:
    assert parse_consent(answer) is expected


def test_unknown_consent_answer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"consented must be one of yes/no/.*; got 'maybe'"):
        parse_consent("maybe")


def test_opt_in_personalizes_only_readers_who_agreed(engine: Engine, settings: Settings) -> None:
    opt_in = settings.model_copy(update={"consent_mode": "opt-in"})
    set_consent(engine, reader_id="agreed", consented=True, at=10)
    set_consent(engine, reader_id="refused", consented=False, at=10)
    assert may_personalize(engine, opt_in, reader_id="agreed")
    assert not may_personalize(engine, opt_in, reader_id="refused")
    assert not may_personalize(engine, opt_in, reader_id="never-asked")


def test_opt_out_personalizes_everyone_but_objectors(engine: Engine, settings: Settings) -> None:
    opt_out = settings.model_copy(update={"consent_mode": "opt-out"})
    set_consent(engine, reader_id="refused", consented=False, at=10)
    assert may_personalize(engine, opt_out, reader_id="never-asked")
    assert not may_personalize(engine, opt_out, reader_id="refused")


def test_an_answer_given_now_replaces_any_stored_one(engine: Engine, settings: Settings) -> None:
    set_consent(engine, reader_id="r", consented=False, at=20)
    set_consent(engine, reader_id="r", consented=True, at=10)
    assert may_personalize(engine, settings, reader_id="r")
    set_consent(engine, reader_id="r", consented=False, at=5)
    assert not may_personalize(engine, settings, reader_id="r")
    stored = load_consent(engine)
    assert stored.to_dict("records") == [{C.READER_ID: "r", C.CONSENTED: False, C.UPDATED_AT: 5}]


def test_withdrawing_consent_detaches_the_readers_sessions(
    engine: Engine, settings: Settings, add_views
) -> None:
    add_views([("s1", "b1", 1, "leaver"), ("s1", "b2", 2, "leaver"), ("s2", "b1", 3, "stayer")])
    set_consent(engine, reader_id="leaver", consented=False, at=10)
    with engine.connect() as connection:
        rows = connection.execute(select(views.c.session_id, views.c.reader_id)).all()
    assert sorted(rows, key=str) == sorted([("s1", None), ("s1", None), ("s2", "stayer")], key=str)


@pytest.mark.parametrize(
    ("mode", "still_linked"), [("opt-in", {"agreed"}), ("opt-out", {"agreed", "never-asked"})]
)
def test_sessions_are_joined_only_to_consenting_readers(
    engine: Engine, settings: Settings, add_views, mode: str, still_linked: set[str]
) -> None:
    add_views([("a", "b1", 1, "agreed"), ("n", "b1", 1, "never-asked"), ("x", "b1", 1, None)])
    set_consent(engine, reader_id="agreed", consented=True, at=5)
    configured = settings.model_copy(update={"consent_mode": mode})
    detached = detach_unconsented_sessions(engine, configured)
    with engine.connect() as connection:
        linked = set(connection.execute(select(views.c.reader_id)).scalars()) - {None}
        sessions = connection.execute(select(views.c.session_id)).scalars().all()
    assert linked == still_linked
    assert detached == 2 - len(still_linked)
    assert sorted(sessions) == ["a", "n", "x"]


def _dataset() -> Dataset:
    return Dataset.from_interactions(
        pd.DataFrame(
            {
                C.READER_ID: ["agreed", "agreed", "refused", "never-asked", None],
                C.BOOK_ID: ["b1", "b2", "b1", "b3", "b2"],
                C.EVENT: ["loan", "view", "loan", "view", "view"],
            }
        )
    )


def _consent_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {C.READER_ID: ["agreed", "refused"], C.CONSENTED: [True, False], C.UPDATED_AT: [1, 1]}
    )


def test_opt_in_training_data_holds_only_readers_who_agreed(settings: Settings) -> None:
    opt_in = settings.model_copy(update={"consent_mode": "opt-in"})
    kept = filter_training_data(_dataset(), _consent_frame(), opt_in).interactions
    assert kept[[C.READER_ID, C.BOOK_ID]].values.tolist() == [["agreed", "b1"], ["agreed", "b2"]]


def test_opt_out_training_data_drops_objectors_and_anonymous_views(settings: Settings) -> None:
    opt_out = settings.model_copy(update={"consent_mode": "opt-out"})
    kept = filter_training_data(_dataset(), _consent_frame(), opt_out).interactions
    assert kept[[C.READER_ID, C.BOOK_ID]].values.tolist() == [
        ["agreed", "b1"],
        ["agreed", "b2"],
        ["never-asked", "b3"],
    ]
