"""Works in the store: derived at catalog ingest, the raw fields kept, the catalog's work_id and
the librarians' splits and merges winning, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, delete, inspect, select

from recsys.artifacts import new_run_id
from recsys.config import Settings
from recsys.data.works import FROM_CATALOG, FROM_DERIVED, FROM_LIBRARIAN, SOURCE
from recsys.db import queries
from recsys.db import works as stored
from recsys.db.schema import alembic_config
from recsys.db.tables import book_works, catalog
from recsys.exceptions import RecsysError, UnknownBookError
from recsys.ingest import ingest_file
from recsys.nightly import steps
from tests.data.test_works import marc_record, the_hobbit

HEADER = "book_id,title,author,isbn,work_id\n"


def _csv(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _works(engine: Engine) -> dict[str, str]:
    frame = queries.load_catalog(engine)
    return dict(zip(frame["book_id"], frame["work_id"], strict=True))


def test_marc_ingest_derives_works_and_keeps_the_fields_as_received(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "catalog.mrc"
    records = [
        the_hobbit("en", dates="1892-1973."),
        marc_record("en2", "Hobbit", subtitle="or there and back again", author="Tolkien, J.R.R."),
        marc_record("fr", "Bilbo le Hobbit /", author="Tolkien, J. R. R.", uniform="Hobbit."),
        marc_record("v1", "Histoire de France.", author="Duby, Georges", part="Tome 1"),
        marc_record("v2", "Histoire de France.", author="Duby, Georges", part="Tome 2"),
    ]
    path.write_bytes(b"".join(record.as_marc() for record in records))
    assert ingest_file(engine, settings, kind="catalog", path=path).rows_accepted == 5
    work = _works(engine)
    assert work["en"] == work["en2"] == work["fr"]
    assert len({work["en"], work["v1"], work["v2"]}) == 3
    with engine.connect() as connection:
        stored_title = connection.execute(
            select(catalog.c.title, catalog.c.author).where(catalog.c.book_id == "en")
        ).one()
    assert tuple(stored_title) == (
        "The hobbit : or, There and back again /",
        "Tolkien, J. R. R., 1892-1973.",
    )


def test_a_curated_work_id_wins_and_pulls_in_its_uncurated_editions(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "catalog.csv",
        [
            '1,Emma /,"Austen, Jane, 1775-1817",,W-EMMA',
            '2,Emma,"Austen, Jane",,',
            '3,Emma : a graphic novel,"Austen, Jane",,',
            '4,Persuasion,"Austen, Jane",,W-EMMA',
        ],
    )
    ingest_file(engine, settings, kind="catalog", path=path)
    work = _works(engine)
    assert work["1"] == work["2"] == work["4"] == "W-EMMA"
    assert work["3"] != "W-EMMA"
    sources = stored.effective_works(engine).set_index("book_id")[SOURCE]
    assert sources.to_dict() == {
        "1": FROM_CATALOG,
        "2": FROM_CATALOG,
        "3": FROM_DERIVED,
        "4": FROM_CATALOG,
    }


def test_librarians_split_merge_and_unset(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        '1,Oeuvres complètes /,"Breton, André, 1896-1966",9782070111381,',
        '2,Oeuvres complètes,"Breton, André",9782070113767,',
        '3,Nadja /,"Breton, André",,',
        '4,Nadja : édition revue,"Breton, André",,',
    ]
    ingest_file(engine, settings, kind="catalog", path=_csv(tmp_path, "c1.csv", rows))
    before = _works(engine)
    assert before["1"] == before["2"] and before["3"] != before["4"]

    stored.split_works(engine, book_ids=["2"], note="volume 2")
    merged = stored.merge_works(engine, book_ids=["3", "4"])
    after = _works(engine)
    assert after["1"] != after["2"]
    assert after["3"] == after["4"] == merged
    overrides = stored.load_overrides(engine)
    assert sorted(overrides["book_id"]) == ["2", "3", "4"]
    assert "volume 2" in overrides["note"].tolist()

    # an edition catalogued later, derived into a merged work, joins the merge
    later = _csv(tmp_path, "c2.csv", ['5,Nadja :,"Breton, André, 1896-1966",,'])
    ingest_file(engine, settings, kind="catalog", path=later)
    assert _works(engine)["5"] == merged
    assert stored.effective_works(engine).set_index("book_id").at["5", SOURCE] == FROM_LIBRARIAN

    assert stored.remove_overrides(engine, book_ids=["2"]) == 1
    assert _works(engine)["2"] == before["2"]


def test_overrides_refuse_unknown_records_and_a_merge_of_one(engine: Engine) -> None:
    with pytest.raises(UnknownBookError, match=r"book_ids must be records .*unknown: nope"):
        stored.split_works(engine, book_ids=["nope"])
    with pytest.raises(RecsysError, match=r"at least two records to merge; got \['a'\]"):
        stored.merge_works(engine, book_ids=["a", "a"])
    with pytest.raises(UnknownBookError, match=r"book_id must be a record .*got 'x'"):
        stored.work_of(engine, book_id="x")


def _emma_stored_without_evidence(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Two records of Emma in the catalog, as stored before works were derived."""
    rows = ['1,Emma,"Austen, Jane",,', '2,EMMA /,"Austen, Jane, 1775-1817",,']
    ingest_file(engine, settings, kind="catalog", path=_csv(tmp_path, "c.csv", rows))
    with engine.begin() as connection:
        connection.execute(delete(book_works))


def test_regroup_derives_works_for_records_stored_without_evidence(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _emma_stored_without_evidence(engine, settings, tmp_path)
    assert stored.ungrouped_records(engine) == 2
    assert set(_works(engine).values()) == {None}  # no work known: each record its own
    with engine.begin() as connection:
        assert stored.regroup(connection) == 2
    assert stored.ungrouped_records(engine) == 0
    assert len(set(_works(engine).values())) == 1


def test_the_works_migration_goes_down_and_up_keeping_the_catalog(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    ingest_file(
        engine, settings, kind="catalog", path=_csv(tmp_path, "c.csv", ["1,Emma,Austen,,W1"])
    )
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert not {"book_works", "work_overrides"} & set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert {"book_works", "work_overrides"} <= set(inspect(engine).get_table_names())
    assert _works(engine) == {"1": "W1"}
    with engine.begin() as connection:
        stored.regroup(connection)
    assert stored.ungrouped_records(engine) == 0


def test_the_nightly_ingest_step_derives_works_for_a_catalog_stored_before_them(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _emma_stored_without_evidence(engine, settings, tmp_path)
    steps.ingest(settings, steps.RunContext(new_run_id(), engine))
    assert stored.ungrouped_records(engine) == 0
    assert len(set(_works(engine).values())) == 1


def test_the_loaded_catalog_carries_each_marc_records_numbered_series(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "catalog.mrc"
    records = [
        marc_record("a1", "Astérix le Gaulois /", author="Goscinny", series=[("Astérix", "1")]),
        marc_record("a2", "La serpe d'or /", author="Goscinny", traced_series=[("Astérix", "2")]),
        marc_record("plain", "Emma /", author="Austen, Jane"),
    ]
    path.write_bytes(b"".join(record.as_marc() for record in records))
    ingest_file(engine, settings, kind="catalog", path=path)
    ingest_file(engine, settings, kind="catalog", path=_csv(tmp_path, "c.csv", ["csv1,Emma,,,"]))
    frame = queries.load_catalog(engine).set_index("book_id")
    # names folded as the evidence stores them, numbers without their "vol." or "."
    assert frame.loc["a1", "series"] == "asterix\t1"
    assert frame.loc["a2", "series"] == "asterix\t2"
    assert frame.loc["plain", "series"] is None and frame.loc["csv1", "series"] is None
