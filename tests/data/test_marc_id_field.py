"""Where a MARC record keeps its id: 001 by default, another field (Koha's 999 $c) when told."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.data.marc import IdField, parse_id_field, read_marc
from recsys.data.readers import read_chunks
from recsys.exceptions import InputFormatError


def test_default_is_001_and_999c_reads_the_biblionumber(koha_biblios: Path) -> None:
    assert [row["book_id"] for row in read_marc(koha_biblios)] == ["ocm12345", "ocm67890"]
    rows = list(read_marc(koha_biblios, id_field=parse_id_field("999c")))
    # a record without the field has no id: validation quarantines it as missing_book_id
    assert [row["book_id"] for row in rows] == ["4711", None]
    assert rows[0]["title"] == "Soup for every season."  # as the record holds it (shown clean)


def test_catalog_chunks_take_the_id_field(koha_biblios: Path) -> None:
    frame = pd.concat(list(read_chunks(koha_biblios, "catalog", id_field="999$c")))
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
