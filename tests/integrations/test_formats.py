"""What needs code: FOLIO's JSON forms, Alma's locale dates, the MARC id field a preset implies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from recsys.config import Settings
from recsys.db.tables import catalog
from recsys.exceptions import InputFormatError
from recsys.ingest import ingest_file
from recsys.integrations import alma
from recsys.integrations.folio import flatten, read_loans

from .ils_library import koha_biblionumber, write_koha_catalog

LOANS = [
    {"id": "l1", "userId": "u1", "itemId": "i1", "item": {"instanceId": "x1", "tags": ["a"]},
     "loanDate": "2025-03-01T10:00:00.000Z", "renewalCount": 0},
    {"id": "l2", "itemId": "i2", "item": {"instanceId": "x2"}, "loanDate": "2025-03-02",
     "dueDateChangedByRecall": False},
]  # fmt: skip
FLAT = [
    {"id": "l1", "userId": "u1", "itemId": "i1", "item.instanceId": "x1",
     "loanDate": "2025-03-01T10:00:00.000Z", "renewalCount": "0"},
    {"id": "l2", "itemId": "i2", "item.instanceId": "x2", "loanDate": "2025-03-02",
     "dueDateChangedByRecall": "false"},
]  # fmt: skip


@pytest.mark.parametrize("form", ["document", "array", "json-lines", "gzip"])
def test_folio_loans_in_every_form_give_the_same_rows(form: str, tmp_path: Path) -> None:
    document = json.dumps({"loans": LOANS, "totalRecords": 2}, indent=2)
    text = {
        "document": document,
        "array": json.dumps(LOANS),
        "json-lines": "\n".join(json.dumps(loan) for loan in LOANS) + "\n\n",
        "gzip": document,
    }[form]
    path = tmp_path / "loans.json"
    path.write_bytes(gzip.compress(text.encode()) if form == "gzip" else text.encode())
    assert list(read_loans(path)) == FLAT


def test_flatten_joins_nested_names_and_drops_arrays() -> None:
    nested = {"a": {"b": {"c": 1}}, "d": [1, 2], "e": None, "f": True}
    assert flatten(nested) == {"a.b.c": "1", "f": "true"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"loans": [', r"loans\.json: not valid JSON"),
        ('{"users": []}', r"loans\.json: expected the body of GET /circulation/loans \(an object"),
        ('["u1"]', r"loans\.json: loan 1 is a JSON str, not an object"),
        ('{"id": "l1"}\n{"id": ', r"loans\.json: line 2 is not a JSON object"),
    ],
)
def test_unreadable_folio_json_is_one_clear_error(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "loans.json"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        list(read_loans(path))


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["3/5/2025", "12/31/2024"], ["2025-03-05", "2024-12-31"]),  # US, Alma's default
        (["05/03/2025", "31/12/2024"], ["2025-03-05", "2024-12-31"]),  # a day above 12
        (["05.03.2025", "1.12.2024"], ["2025-03-05", "2024-12-01"]),  # dotted: day first
        (["2025-03-05", "2024-12-31"], ["2025-03-05", "2024-12-31"]),
    ],
)
def test_alma_dates_in_the_report_locale_become_iso(dates: list[str], expected: list[str]) -> None:
    raw = pd.DataFrame({"borrowed_at": dates})
    assert alma.loan_times(raw).tolist() == expected


def test_alma_loan_time_is_joined_to_its_date() -> None:
    raw = pd.DataFrame({"borrowed_at": ["3/5/2025", ""], alma.LOAN_TIME: ["14:05:00", "09:00:00"]})
    times = alma.loan_times(raw)
    assert times.iloc[0] == "2025-03-05T14:05:00" and pd.isna(times.iloc[1])


def _catalog_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(catalog.c.book_id)).scalars())


def _first_records(path: Path, count: int) -> Path:
    """A new binary MARC file with the first `count` records of `path`."""
    records = path.read_bytes().split(b"\x1d")[:count]
    target = path.with_name(f"first-{count}.mrc")
    target.write_bytes(b"".join(record + b"\x1d" for record in records))
    return target


def test_a_preset_chooses_the_marc_id_field_and_options_override_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = write_koha_catalog(tmp_path)
    ingest_file(engine, settings, kind="catalog", path=path, preset="koha-statistics")
    assert _catalog_ids(engine) == {koha_biblionumber(book) for book in range(12)}

    half = _first_records(path, 6)  # another file, read by 001 this time
    configured = settings.model_copy(update={"loan_preset": "koha-issues"})
    assert (
        ingest_file(engine, configured, kind="catalog", path=half, id_field="001").rows_accepted
        == 6
    )
    assert {"ocm40000000", "101"} <= _catalog_ids(engine)

    bad = settings.model_copy(update={"marc_id_field": "biblionumber"})
    with pytest.raises(InputFormatError, match=r"^RECSYS_MARC_ID_FIELD must be a MARC control"):
        ingest_file(engine, bad, kind="catalog", path=_first_records(path, 3))


def test_a_csv_catalog_is_read_as_ours_whatever_the_preset(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("book_id,title\n101,Soup for every season\n")
    configured = settings.model_copy(update={"loan_preset": "koha-issues", "marc_id_field": "999c"})
    assert ingest_file(engine, configured, kind="catalog", path=path).rows_accepted == 1
    assert _catalog_ids(engine) == {"101"}
