"""Browse sessions stay anonymous unless the reader was logged in and consents."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.db.tables import views
from recsys.ingest import ingest_file
from recsys.nightly import steps


def _linked(site) -> dict[str, int]:
    """Stored views per reader pseudonym (anonymous views left out)."""
    query = (
        select(views.c.reader_id, func.count())
        .where(views.c.reader_id.is_not(None))
        .group_by(views.c.reader_id)
    )
    with site.engine.connect() as connection:
        return dict(connection.execute(query).all())


def _view_count(site) -> int:
    with site.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(views)).scalar_one()


def _logged_in_readers(site, n: int) -> list[str]:
    counts = site.library.views[C.READER_ID].dropna().astype(str).value_counts()
    return counts.index[:n].tolist()


def test_sessions_are_joined_only_to_consenting_readers(site, tmp_path: Path) -> None:
    agrees, objects, silent = _logged_in_readers(site, 3)
    total = _view_count(site)
    assert site.pseudonym(objects) in _linked(site)
    export = tmp_path / "consent.csv"
    export.write_text(f"reader_id,consented\n{agrees},yes\n{objects},no\n")

    ingest_file(site.engine, site.settings, kind="consent", path=export)

    # The objection detaches at once; opt-out keeps the silent reader's sessions joined.
    linked = _linked(site)
    assert site.pseudonym(objects) not in linked
    assert {site.pseudonym(agrees), site.pseudonym(silent)} <= set(linked)
    # Under opt-in, the nightly makes every session without a "yes" anonymous ...
    opt_in = site.settings.model_copy(update={"consent_mode": "opt-in"})
    ctx = steps.RunContext(artifacts.new_run_id(), site.engine)
    steps.validate(opt_in, ctx)
    assert set(_linked(site)) == {site.pseudonym(agrees)}
    # ... keeping the sessions themselves, and training sees only the consenting reader's views.
    assert _view_count(site) == total
    data = steps.load_data(opt_in, ctx).interactions
    assert set(data.loc[data[C.EVENT] == "view", C.READER_ID]) == {site.pseudonym(agrees)}


def test_session_suggestions_store_nothing(site) -> None:
    client = site.client()
    books = site.library.loans[C.BOOK_ID].astype(str).unique()[:3].tolist()
    before = _view_count(site)
    response = client.post("/sessions/recommendations", json={"book_ids": books, "k": 5})
    assert response.status_code == 200, response.text
    assert response.json()["items"]
    assert _view_count(site) == before
