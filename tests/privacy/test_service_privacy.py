"""Consent, erasure, transparency and stable per-book lists, through the running service."""

from __future__ import annotations

from sqlalchemy import func, select

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.db.tables import loans, views
from recsys.erasure import erasure_count
from recsys.nightly import steps

FALLBACK = "fallback:popular"


def _recommend(site, client, raw: str) -> dict:
    response = client.get(f"/readers/{raw}/recommendations", headers=site.reader_headers)
    assert response.status_code == 200, response.text
    assert raw not in response.text and site.pseudonym(raw) not in response.text
    return response.json()


def _training_readers(site) -> set[str]:
    """The readers of the data the next nightly trains on (its own loading step)."""
    ctx = steps.RunContext(artifacts.new_run_id(), site.engine)
    return set(steps.load_data(site.settings, ctx).interactions[C.READER_ID])


def test_an_objection_makes_suggestions_non_personal_at_once_and_leaves_training(site) -> None:
    client = site.client()
    raw = site.busiest_readers(1)[0]
    assert _recommend(site, client, raw)["strategy"] != FALLBACK
    assert site.pseudonym(raw) in _training_readers(site)

    response = client.put(
        f"/admin/readers/{raw}/consent", json={"consented": False}, headers=site.admin_headers
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "consented": False,
        "recorded": True,
        "consent_mode": "opt-out",
        "personalized": False,
    }
    assert raw not in response.text and site.pseudonym(raw) not in response.text
    after = _recommend(site, client, raw)
    popular = client.get("/popular", params={"k": 10}).json()
    assert after["strategy"] == FALLBACK
    assert [i["book_id"] for i in after["items"]] == [i["book_id"] for i in popular["items"]]
    assert site.pseudonym(raw) not in _training_readers(site)


def test_opt_in_personalizes_only_after_consent(site) -> None:
    client = site.client(consent_mode="opt-in")
    raw = site.busiest_readers(1)[0]
    assert _recommend(site, client, raw)["strategy"] == FALLBACK
    opt_in = site.settings.model_copy(update={"consent_mode": "opt-in"})
    ctx = steps.RunContext(artifacts.new_run_id(), site.engine)
    assert steps.load_data(opt_in, ctx).interactions.empty

    client.put(
        f"/admin/readers/{raw}/consent", json={"consented": True}, headers=site.admin_headers
    )

    assert _recommend(site, client, raw)["strategy"] != FALLBACK
    ctx = steps.RunContext(artifacts.new_run_id(), site.engine)
    assert set(steps.load_data(opt_in, ctx).interactions[C.READER_ID]) == {site.pseudonym(raw)}


def test_admin_erasure_removes_rows_and_personalization_at_once(site) -> None:
    client = site.client()
    raw = site.busiest_readers(1)[0]
    pseudonym = site.pseudonym(raw)
    with site.engine.connect() as connection:
        stored = connection.execute(
            select(func.count()).select_from(loans).where(loans.c.reader_id == pseudonym)
        ).scalar_one()
    assert stored > 0 and _recommend(site, client, raw)["strategy"] != FALLBACK

    response = client.delete(f"/admin/readers/{raw}", headers=site.admin_headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["loans_deleted"], body["personalized"]) == (stored, False)
    assert raw not in response.text and pseudonym not in response.text
    with site.engine.connect() as connection:
        for table in (loans, views):
            left = select(func.count()).select_from(table).where(table.c.reader_id == pseudonym)
            assert connection.execute(left).scalar_one() == 0
    assert _recommend(site, client, raw)["strategy"] == FALLBACK
    assert erasure_count(site.engine) == 1


def test_admin_privacy_routes_need_the_admin_scope(site) -> None:
    client = site.client()
    raw = site.busiest_readers(1)[0]
    for headers in ({}, site.reader_headers):
        assert client.delete(f"/admin/readers/{raw}", headers=headers).status_code in (401, 403)
        put = client.put(
            f"/admin/readers/{raw}/consent", json={"consented": False}, headers=headers
        )
        assert put.status_code in (401, 403)
    assert _recommend(site, client, raw)["strategy"] != FALLBACK


def test_privacy_statement_reflects_the_live_settings_and_model(site) -> None:
    client = site.client(retention_days=123, consent_mode="opt-in", min_pair_support=4)
    body = client.get("/privacy").json()
    run_id = artifacts.current_run_id(site.settings.models_dir)
    manifest = artifacts.verify_bundle(artifacts.run_path(site.settings.models_dir, run_id))
    assert (body["retention_days"], body["consent_mode"], body["min_pair_support"]) == (
        123,
        "opt-in",
        4,
    )
    assert body["model"]["version"] == run_id
    assert body["model"]["trained_at"] == manifest["created_at"]
    assert body["kept_model_runs"] == site.settings.keep_runs
    other = site.client(retention_days=30, consent_mode="opt-out").get("/privacy").json()
    assert (other["retention_days"], other["consent_mode"], other["min_pair_support"]) == (
        30,
        "opt-out",
        site.settings.min_pair_support,
    )


def test_per_book_lists_do_not_move_with_new_loans_or_erasures(site) -> None:
    client = site.client()
    raw = site.busiest_readers(1)[0]
    book = str(site.library.loans[C.BOOK_ID].astype(str).value_counts().index[0])
    before = client.get(f"/books/{book}/similar")
    assert before.status_code == 200 and before.json()["items"]

    client.delete(f"/admin/readers/{raw}", headers=site.admin_headers)
    with site.engine.begin() as connection:
        connection.execute(
            loans.insert().values(
                reader_id=site.pseudonym("NEW-READER"),
                book_id=book,
                borrowed_at=1_790_000_000,
                event="loan",
            )
        )

    after = client.get(f"/books/{book}/similar")
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]
