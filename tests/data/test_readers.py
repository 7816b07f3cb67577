"""Reading exports: CSV and gzip, column mapping, delimiters, and one clear error per bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.readers import LINE_NUMBER, parse_column_map, read_chunks
from recsys.exceptions import InputFormatError

LOANS = "reader_id,book_id,borrowed_at\nP1,B1,2024-01-05\nP2,B2,2024-01-06\nP3,B3,2024-01-07\n"


def _all(path: Path, kind: str = "loans", **kwargs) -> pd.DataFrame:
    return pd.concat(list(read_chunks(path, kind, **kwargs)), ignore_index=True)


def test_plain_and_gzip_csv_give_the_same_rows(tmp_path: Path) -> None:
    plain = tmp_path / "loans.csv"
    plain.write_text(LOANS)
    packed = tmp_path / "loans.csv.gz"
    packed.write_bytes(gzip.compress(LOANS.encode()))
    pd.testing.assert_frame_equal(_all(plain), _all(packed))
    assert _all(plain)["reader_id"].tolist() == ["P1", "P2", "P3"]


def test_chunks_carry_file_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_text(LOANS)
    chunks = list(read_chunks(path, "loans", chunk_rows=2))
    assert [chunk[LINE_NUMBER].tolist() for chunk in chunks] == [[2, 3], [4]]


def test_column_map_renames_export_columns_and_extra_columns_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Patron;Item;Date;Patron name\nP1;B1;2024-01-05;Ada Lovelace\n")
    mapping = parse_column_map("reader_id=patron, book_id=Item,borrowed_at=Date")
    frame = _all(path, column_map=mapping)
    assert list(frame.columns) == [LINE_NUMBER, "reader_id", "book_id", "borrowed_at"]
    assert frame.iloc[0].tolist() == [2, "P1", "B1", "2024-01-05"]


def test_missing_required_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    path = tmp_path / "loans-march.csv"
    path.write_text("reader_id,book_id\nP1,B1\n")
    with pytest.raises(
        InputFormatError,
        match=r"loans-march\.csv: missing required column "
        r"'borrowed_at' for loans",
    ):
        read_chunks(path, "loans")


def test_binary_file_is_not_csv(tmp_path: Path) -> None:
    path = tmp_path / "loans.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(InputFormatError, match=r"loans\.xlsx: is a zip archive, not CSV"):
        read_chunks(path, "loans")
    path = tmp_path / "loans.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputFormatError, match=r"loans\.bin: is a binary file, not CSV"):
        read_chunks(path, "loans")


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.csv: empty file; expected a CSV header"):
        read_chunks(empty, "loans")
    with pytest.raises(InputFormatError, match=r"nowhere\.csv: no such file"):
        read_chunks(tmp_path / "nowhere.csv", "loans")


def test_column_map_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_text(LOANS)
    with pytest.raises(
        InputFormatError,
        match=r"has no column 'patron' \(named in --columns "
        r"reader_id=patron\)",
    ):
        read_chunks(path, "loans", column_map={"reader_id": "patron"})
    with pytest.raises(InputFormatError, match=r"maps onto 'patron_name', which is not a loans"):
        read_chunks(path, "loans", column_map={"patron_name": "x"})
    with pytest.raises(InputFormatError, match=r"canonical=export_name; got 'book_id'"):
        parse_column_map("reader_id=u,book_id")


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"kind must be one of .*; got 'patrons'"):
        read_chunks(tmp_path / "x.csv", "patrons")


def test_extra_fields_in_a_row_are_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("reader_id,book_id,borrowed_at\nP1,B1,2024-01-05,oops,more\n")
    with pytest.raises(InputFormatError, match=r"broken\.csv: not valid CSV"):
        _all(path)


def test_cp1252_export_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes("book_id,title\nB1,Caf\u00e9 \u2013 stories\n".encode("cp1252"))
    assert _all(path, "catalog")["title"].tolist() == ["Caf\u00e9 \u2013 stories"]
