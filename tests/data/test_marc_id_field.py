"""Where a MARC record keeps its id: 001 by default, another field (Koha's 999 $c) when told."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pymarc
import pytest

from recsys.data.marc import IdField, parse_id_field, read_marc
from recsys.data.readers import read_chunks
from recsys.exceptions import InputFormatError


def koha_record(control_number: str, biblionumber: str | None) -> pymarc.Record:
    """A Koha biblio: 001 holds the vendor's control number, 999 $c the biblionumber."""
    record = pymarc.Record()
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    record.add_field(
        pymarc.Field(tag="001", data=control_number),
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("0", "0"),
            subfields=[pymarc.Subfield("a", "Soup for every season.")],
        ),
    )
    if biblionumber is not None:
        record.add_field(
            pymarc.Field(
                tag="999",
                indicators=pymarc.Indicators(" ", " "),
                subfields=[pymarc.Subfield("c", biblionumber), pymarc.Subfield("d", "77")],
            )
        )
    return record


@pytest.fixture
def koha_file(tmp_path: Path) -> Path:
    path = tmp_path / "biblios.mrc"
    records = [koha_record("ocm12345", "4711"), koha_record("ocm67890", None)]
    path.write_bytes(b"".join(record.as_marc() for record in records))
    return path


def test_default_is_001_and_999c_reads_the_biblionumber(koha_file: Path) -> None:
    assert [row["book_id"] for row in read_marc(koha_file)] == ["ocm12345", "ocm67890"]
    rows = list(read_marc(koha_file, id_field=parse_id_field("999c")))
    # a record without the field has no id: validation quarantines it as missing_book_id
    assert [row["book_id"] for row in rows] == ["4711", None]
    assert rows[0]["title"] == "Soup for every season"


def test_catalog_chunks_take_the_id_field(koha_file: Path) -> None:
    frame = pd.concat(list(read_chunks(koha_file, "catalog", id_field="999$c")))
    assert frame["book_id"].iloc[0] == "4711" and pd.isna(frame["book_id"].iloc[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("001", IdField("001")), ("999c", IdField("999", "c")), ("901$c", IdField("901", "c"))],
)
def test_id_field_syntax(text: str, expected: IdField) -> None:
    assert parse_id_field(text) == expected


@pytest.mark.parametrize("text", ["999", "001a", "99c", "biblionumber"])
def test_a_bad_id_field_names_the_option_and_the_value(text: str) -> None:
    with pytest.raises(
        InputFormatError, match=rf"--id-field must be a MARC control field .*got '{text}'"
    ):
        parse_id_field(text)


def test_id_field_is_refused_for_csv_catalogs(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("book_id,title\nB1,Soup\n")
    with pytest.raises(InputFormatError, match=r"catalog\.csv: --id-field applies to MARC records"):
        read_chunks(path, "catalog", id_field="999c")
