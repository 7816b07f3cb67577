"""Which consent answer is in force: an erasure or an objection is overridden only by an explicit,
dated, later consent; an answer given through the CLI or the admin API takes effect at once,
whatever is stored; a date in the future outranks nothing recorded after it (property-based)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, text

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import (
    UNDATED,
    apply_consents,
    load_consent,
    load_training_dataset,
    may_personalize,
    set_consent,
)
from recsys.db.tables import consent, loans, privacy_events
from recsys.erasure import forget_reader
from recsys.ingest import ingest_file
from recsys.privacy import Pseudonymizer

NOW = 1_800_000_000


def _pseudonym(settings: Settings, raw: str) -> str:
    return Pseudonymizer(settings.pseudonym_key_bytes()).pseudonymize(raw)


def test_an_undated_consent_export_never_undoes_an_erasure(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    reader = _pseudonym(settings, "CARD-1")
    forget_reader(engine, pseudonym=reader)
    consent_export = tmp_path / "consent.csv"
    consent_export.write_text("reader_id,consented\nCARD-1,yes\n")
    loan_export = tmp_path / "loans.csv"
    loan_export.write_text("reader_id,book_id,borrowed_at\nCARD-1,b1,2024-03-01\n")

    ingest_file(engine, settings, kind="consent", path=consent_export)
    ingest_file(engine, settings, kind="loans", path=loan_export)

    assert not may_personalize(engine, settings, reader_id=reader)
    training = load_training_dataset(engine, settings).interactions
    assert reader not in set(training[C.READER_ID])
    # ... while the same export does record the consent of a reader with no answer yet
    other = tmp_path / "other.csv"
    other.write_text("reader_id,consented\nCARD-2,yes\n")
    ingest_file(engine, settings, kind="consent", path=other)
    opt_in = settings.model_copy(update={"consent_mode": "opt-in"})
    assert may_personalize(engine, opt_in, reader_id=_pseudonym(settings, "CARD-2"))


def test_only_a_dated_later_consent_overrides_an_objection(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    reader = _pseudonym(settings, "CARD-1")
    set_consent(engine, reader_id=reader, consented=False, at=1_700_000_000)  # 2023-11-14
    for name, date, personalized in (
        ("older", "2023-11-01", False),
        ("undated", "", False),
        ("later", "2023-12-01", True),
    ):
        export = tmp_path / f"{name}.csv"
        export.write_text(f"reader_id,consented,updated_at\nCARD-1,yes,{date}\n")
        ingest_file(engine, settings, kind="consent", path=export)
        assert may_personalize(engine, settings, reader_id=reader) is personalized, name


def test_the_cli_objection_overrides_a_consent_dated_in_the_future(
    engine: Engine, settings: Settings, tmp_path: Path, cli_env: None, capsys
) -> None:
    from pipelines.cli import main

    tomorrow = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))
    export = tmp_path / "consent.csv"
    export.write_text(f"reader_id,consented,updated_at\nCARD-1,yes,{tomorrow}\n")
    ingest_file(engine, settings, kind="consent", path=export)

    assert main(["consent", "CARD-1", "--no"]) == 0

    assert not may_personalize(engine, settings, reader_id=_pseudonym(settings, "CARD-1"))
    assert "objection recorded" in capsys.readouterr().out


def test_the_admin_objection_overrides_a_consent_dated_in_the_future(site) -> None:
    raw = site.busiest_readers(1)[0]
    with site.engine.begin() as connection:
        connection.execute(delete(consent).where(consent.c.reader_id == site.pseudonym(raw)))
        connection.execute(
            insert(consent).values(
                reader_id=site.pseudonym(raw), consented=True, updated_at=int(time.time()) + 86_400
            )
        )
    client = site.client()

    response = client.put(
        f"/admin/readers/{raw}/consent", json={"consented": False}, headers=site.admin_headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["personalized"] is False
    assert not may_personalize(site.engine, site.settings, reader_id=site.pseudonym(raw))


def test_migrating_a_store_moves_future_consent_times_to_the_migration(engine: Engine) -> None:
    """Answers stored with a date in the future by an earlier version are brought back to now."""
    from alembic import command

    from recsys.db.schema import alembic_config

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO consent (reader_id, consented, updated_at) "
                "VALUES ('future', true, 4000000000), ('past', false, 1000)"
            )
        )
    before = int(time.time())
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    stored = load_consent(engine).set_index(C.READER_ID)[C.UPDATED_AT].to_dict()
    assert before <= stored["future"] <= int(time.time())
    assert stored["past"] == 1000


# --------------------------------------------------------------------------- the rule, at random


@dataclass(frozen=True)
class Answer:
    """One answer about the reader: from an export (dated or not) or given live (CLI, API)."""

    consented: bool
    at: int | None  # None: an undated export row
    live: bool = False


answers = st.builds(
    Answer,
    consented=st.booleans(),
    at=st.one_of(st.none(), st.integers(min_value=NOW - 1000, max_value=NOW + 1000)),
    live=st.booleans(),
)


def _give(engine: Engine, answer: Answer, *, now: int) -> None:
    """Record `answer` at time `now` the way its source does."""
    if answer.live:
        set_consent(engine, reader_id="r", consented=answer.consented, at=now)
        return
    frame = pd.DataFrame(
        {
            C.READER_ID: ["r"],
            C.CONSENTED: [answer.consented],
            C.UPDATED_AT: [UNDATED if answer.at is None else answer.at],
        }
    )
    with engine.begin() as connection:
        apply_consents(connection, frame, now=now)


def _state(engine: Engine) -> tuple[bool, int] | None:
    stored = load_consent(engine)
    if stored.empty:
        return None
    return bool(stored[C.CONSENTED].iloc[0]), int(stored[C.UPDATED_AT].iloc[0])


def _reset(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(consent))
        connection.execute(delete(loans))
        connection.execute(delete(privacy_events))


def _effective(answer: Answer, now: int) -> int:
    """The time an export answer counts as given (a refusal's, here)."""
    return now if answer.live or answer.at is None else min(answer.at, now)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(answers, max_size=6),
    refusal=st.sampled_from(["erasure", "objection", "undated export"]),
    later=st.lists(answers, max_size=8),
)
def test_a_refusal_stays_until_a_dated_later_consent_or_a_live_one(
    engine: Engine, settings: Settings, history: list[Answer], refusal: str, later: list[Answer]
) -> None:
    _reset(engine)
    clock = NOW
    for answer in history:
        _give(engine, answer, now=clock)
        clock += 1
    if refusal == "erasure":
        forget_reader(engine, pseudonym="r", at=clock)
    else:
        _give(engine, Answer(False, None, live=refusal == "objection"), now=clock)
    refused_at = clock
    assert not may_personalize(engine, settings, reader_id="r")
    for answer in later:
        clock += 1
        _give(engine, answer, now=clock)
        dated_later = answer.at is not None and min(answer.at, clock) > refused_at
        if answer.consented and (answer.live or dated_later):
            assert may_personalize(engine, settings, reader_id="r"), answer
            break
        if not answer.consented:
            refused_at = max(refused_at, _effective(answer, clock))
        assert not may_personalize(engine, settings, reader_id="r"), answer


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    exported=st.lists(answers.filter(lambda a: not a.live), min_size=1, max_size=8),
    order=st.randoms(use_true_random=False),
)
def test_export_answers_end_in_the_same_state_in_any_order(
    engine: Engine, exported: list[Answer], order
) -> None:
    states = []
    for shuffled in (exported, order.sample(exported, len(exported))):
        _reset(engine)
        for answer in shuffled:
            _give(engine, answer, now=NOW)
        states.append(_state(engine))
    assert states[0] == states[1]
    in_force = states[0]
    assert in_force is not None
    # a refusal wins whenever it is at least as late as every consent
    refusal_times = [
        min(a.at, NOW) if a.at is not None else NOW for a in exported if not a.consented
    ]
    consent_times = [min(a.at, NOW) for a in exported if a.consented and a.at is not None]
    if refusal_times and max(refusal_times) >= max(consent_times, default=-1):
        assert in_force[0] is False


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=st.lists(answers, max_size=6), consented=st.booleans())
def test_an_answer_given_live_is_in_force_at_once(
    engine: Engine, settings: Settings, stored: list[Answer], consented: bool
) -> None:
    _reset(engine)
    for answer in stored:  # dates up to 1000 s after the live answer
        _give(engine, answer, now=NOW)
    set_consent(engine, reader_id="r", consented=consented, at=NOW)
    assert may_personalize(engine, settings, reader_id="r") is consented
    assert _state(engine) == (consented, NOW)
