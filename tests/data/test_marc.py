"""MARC21 catalog records (binary and MARCXML) become canonical catalog rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pymarc
import pytest

from recsys.data.marc import PRESET_REASON, read_marc, record_to_row
from recsys.data.readers import read_chunks
from recsys.data.schemas import get_schema
from recsys.data.validation import validate


def _fixed_field(year: str, audience: str, language: str) -> str:
    field = list("240105s" + year + "    xxu" + " " * 17 + language + " d")
    assert len(field) == 40
    field[22] = audience
    return "".join(field)


def make_record(book_id: str, *, audience: str = "j", person: bool = True) -> pymarc.Record:
    record = pymarc.Record()
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    record.add_field(
        pymarc.Field(tag="001", data=book_id),
        pymarc.Field(tag="008", data=_fixed_field("1937", audience, "eng")),
        pymarc.Field(
            tag="020",
            indicators=pymarc.Indicators(" ", " "),
            subfields=[pymarc.Subfield("a", "9780261102217 (pbk.)")],
        ),
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("1", "4"),
            subfields=[
                pymarc.Subfield("a", "The hobbit :"),
                pymarc.Subfield("b", "or, There and back again /"),
                pymarc.Subfield("c", "J.R.R. Tolkien."),
            ],
        ),
        pymarc.Field(
            tag="650",
            indicators=pymarc.Indicators(" ", "0"),
            subfields=[
                pymarc.Subfield("a", "Fantasy fiction."),
                pymarc.Subfield("v", "Juvenile fiction."),
            ],
        ),
        pymarc.Field(
            tag="650",
            indicators=pymarc.Indicators(" ", "0"),
            subfields=[pymarc.Subfield("a", "Dragons")],
        ),
    )
    if person:
        record.add_field(
            pymarc.Field(
                tag="100",
                indicators=pymarc.Indicators("1", " "),
                subfields=[
                    pymarc.Subfield("a", "Tolkien, J. R. R."),
                    pymarc.Subfield("d", "1892-1973."),
                ],
            )
        )
    else:
        record.add_field(
            pymarc.Field(
                tag="110",
                indicators=pymarc.Indicators("2", " "),
                subfields=[
                    pymarc.Subfield("a", "Library of Congress."),
                    pymarc.Subfield("b", "Map Division."),
                ],
            )
        )
    return record


EXPECTED = {
    "book_id": "ocm0001",
    "title": "The hobbit : or, There and back again /",  # as the record holds it
    "author": "Tolkien, J. R. R. 1892-1973.",
    "subjects": "Fantasy fiction; Dragons",
    "isbn": "9780261102217",
    "language": "eng",
    "audience": "children",
    "year": "1937",
    "format": "book",
    # what grouping records into works reads (recsys.data.works)
    "filing_title": "hobbit : or, There and back again /",
    "title_part": None,
    "uniform_title": None,
    "series": None,
    "isbns": "9780261102217",
    "record_ids": "ocm0001",
    "other_editions": None,
}


def test_binary_marc_record_maps_to_catalog_fields(tmp_path: Path) -> None:
    path = tmp_path / "catalog.mrc"
    path.write_bytes(make_record("ocm0001").as_marc() + make_record("ocm0002").as_marc())
    rows = list(read_marc(path))
    assert rows[0] == EXPECTED
    assert rows[1]["book_id"] == "ocm0002"


def test_marcxml_gives_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.xml"
    with path.open("wb") as handle:
        writer = pymarc.XMLWriter(handle)
        writer.write(make_record("ocm0001"))
        writer.close(close_fh=False)
    assert list(read_marc(path)) == [EXPECTED]


@pytest.mark.parametrize(
    ("code", "audience"),
    [
        ("a", "children"),
        ("b", "children"),
        ("c", "children"),
        ("j", "children"),
        ("d", "young_adult"),
        ("e", "adult"),
        ("g", "adult"),
        (" ", None),
        ("|", None),
    ],
)
def test_audience_code_008_22(code: str, audience: str | None) -> None:
    assert record_to_row(make_record("x", audience=code))["audience"] == audience


def test_corporate_author_from_110() -> None:
    row = record_to_row(make_record("x", person=False))
    assert row["author"] == "Library of Congress. Map Division."


def test_catalog_ingest_reads_marc_and_flags_unreadable_records(tmp_path: Path) -> None:
    path = tmp_path / "export.dat"  # no MARC suffix: recognized by the leader
    garbage = b"00050nam  2200000   4500" + b"\x1e" * 26
    path.write_bytes(make_record("ocm0001").as_marc() + garbage)
    frame = pd.concat(list(read_chunks(path, "catalog")), ignore_index=True)
    assert frame["line_number"].tolist() == [1, 2]
    assert frame.loc[1, PRESET_REASON] == "bad_record"
    result = validate(frame, get_schema("catalog"))
    assert result.accepted["book_id"].tolist() == ["ocm0001"]
    assert result.accepted.loc[0, "year"] == 1937
    assert result.quarantined["reason"].tolist() == ["bad_record"]


def test_broken_marcxml_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.xml"
    path.write_text("<collection><record>")
    from recsys.exceptions import InputFormatError

    with pytest.raises(InputFormatError, match=r"catalog\.xml: not valid MARCXML"):
        list(read_marc(path))
