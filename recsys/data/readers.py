"""Read input files in chunks of canonical columns (CSV, optionally gzip; MARC for catalogs).

Every chunk carries a ``line_number`` column (the header is line 1) so quarantined rows can be
found in the original export. Columns that are not part of the contract are never read, so an
export's extra fields (names, addresses) cannot leak into the store or the quarantine.
"""

from __future__ import annotations

import csv
import gzip
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.io.parsers import TextFileReader

from recsys.data import marc
from recsys.data.schemas import InputSchema, get_schema
from recsys.exceptions import InputFormatError

LINE_NUMBER = "line_number"
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
MARC_SUFFIXES = frozenset({".mrc", ".marc", ".xml", ".marcxml"})
# Control bytes never found in CSV text; MARC binary uses 0x1d-0x1f as separators.
_BINARY_BYTES = frozenset(range(0, 9)) | frozenset(range(14, 32))


def parse_column_map(text: str | None) -> dict[str, str]:
    """Parse ``book_id=i,reader_id=u`` into ``{canonical name: export name}``."""
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        canonical, sep, export = (part.strip() for part in pair.partition("="))
        if not sep or not canonical or not export:
            raise InputFormatError(
                f"--columns entries must look like canonical=export_name; got {pair.strip()!r}"
            )
        mapping[canonical] = export
    return mapping


def read_chunks(
    path: Path,
    kind: str,
    *,
    column_map: Mapping[str, str] | None = None,
    chunk_rows: int = 200_000,
    id_field: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Chunks of `path` as canonical string columns plus ``line_number``.

    The file is checked before this returns: a missing or unreadable file, a file that is not
    CSV (or MARC, for catalogs) or one lacking a required column raises `InputFormatError` naming
    the file and the column; so does a gzip stream found truncated or corrupt while reading.
    `id_field` says where MARC records keep their id (default 001); it is refused for CSV files,
    whose ids are a column.
    """
    schema = get_schema(kind)
    path = Path(path)
    require_readable(path)
    sample = _sample(path)
    if kind == "catalog" and _looks_like_marc(path, sample):
        if column_map:
            raise InputFormatError(f"{path.name}: --columns applies to CSV files, not MARC")
        return _marc_chunks(path, chunk_rows, marc.parse_id_field(id_field or marc.DEFAULT_ID))
    if id_field is not None:
        raise InputFormatError(f"{path.name}: --id-field applies to MARC records, not CSV files")
    return _csv_chunks(path, schema, sample, dict(column_map or {}), chunk_rows)


def require_readable(path: Path) -> None:
    """Refuse a path that is missing, not a regular file or not readable, saying which."""
    if not path.exists():
        raise InputFormatError(f"{path}: no such file")
    if not path.is_file():
        raise InputFormatError(f"{path}: not a file (a directory or a device); give an export file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise _unreadable(path, error) from None


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV export is written: its header, delimiter and encoding (read from its start)."""

    path: Path
    header: list[str]
    delimiter: str
    encoding: str

    def position(self, name: str) -> int | None:
        """Where column `name` is, compared without case (the first of duplicated names)."""
        names = [column.lower() for column in self.header]
        return names.index(name.lower()) if name.lower() in names else None


def csv_layout(path: Path) -> CsvLayout:
    """The layout of CSV `path` (plain or gzip); refuses missing, zip, binary and empty files."""
    path = Path(path)
    require_readable(path)
    layout = _layout(path, _sample(path))
    if not layout.header:
        raise InputFormatError(f"{path.name}: empty file; expected a CSV header")
    return layout


def _layout(path: Path, sample: bytes) -> CsvLayout:
    """The layout read from the file's first bytes; an empty header for an empty file."""
    text, encoding = _decode_sample(path, sample)
    header_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if not header_line.strip():
        return CsvLayout(path=path, header=[], delimiter=",", encoding=encoding)
    delimiter = max(DELIMITERS, key=header_line.count)
    header = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
    return CsvLayout(path=path, header=header, delimiter=delimiter, encoding=encoding)


def csv_chunks(
    layout: CsvLayout, positions: Mapping[str, int], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Chunks of the columns at `positions` (named by its keys) plus ``line_number``."""
    reader = pd.read_csv(
        layout.path,
        sep=layout.delimiter,
        header=0,
        index_col=False,
        dtype=str,
        na_filter=False,
        skip_blank_lines=False,
        encoding=layout.encoding,
        encoding_errors="replace",
        compression="gzip" if _is_gzip(layout.path) else None,
        chunksize=chunk_rows,
    )
    # Selecting by position survives odd or duplicated header names; other columns are dropped.
    return _numbered(layout.path, reader, dict(positions))


def _sample(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(SAMPLE_BYTES)
        except _DECOMPRESSION_ERRORS as error:
            raise _corrupt(path, error) from None
    return head


#: What reading a truncated or damaged gzip file raises.
_DECOMPRESSION_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def _corrupt(path: Path, error: BaseException) -> InputFormatError:
    return InputFormatError(
        f"{path.name}: the compressed file is truncated or corrupt ({error}); export it again"
    )


def _unreadable(path: Path, error: OSError) -> InputFormatError:
    return InputFormatError(f"{path}: cannot be read ({error.strerror or error})")


def is_marc(path: Path) -> bool:
    """Whether `path` holds MARC records (binary MARC21 or MARCXML) rather than CSV."""
    return _looks_like_marc(Path(path), _sample(Path(path)))


def _looks_like_marc(path: Path, sample: bytes) -> bool:
    if path.suffix.lower() in MARC_SUFFIXES:
        return True
    return sample.lstrip().startswith(b"<") or marc.is_binary_marc(sample)


def _marc_chunks(path: Path, chunk_rows: int, id_field: marc.IdField) -> Iterator[pd.DataFrame]:
    rows: list[dict[str, object]] = []
    for number, record in enumerate(marc.read_marc(path, id_field=id_field), start=1):
        rows.append({LINE_NUMBER: number, **record})  # for MARC, the record number
        if len(rows) >= chunk_rows:
            yield pd.DataFrame(rows)
            rows = []
    if rows:
        yield pd.DataFrame(rows)


def _csv_chunks(
    path: Path,
    schema: InputSchema,
    sample: bytes,
    column_map: dict[str, str],
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    layout = _layout(path, sample)
    if not layout.header:
        raise InputFormatError(
            f"{path.name}: empty file; expected a CSV header with columns {list(schema.required)}"
        )
    return csv_chunks(layout, _resolve_columns(path, schema, layout.header, column_map), chunk_rows)


def _numbered(
    path: Path, reader: TextFileReader, positions: dict[str, int]
) -> Iterator[pd.DataFrame]:
    first_line = 2
    with reader:
        while True:
            try:
                with warnings.catch_warnings():
                    # A row longer than the header would silently shift or lose fields.
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserWarning:
                raise InputFormatError(
                    f"{path.name}: not valid CSV (a row has more fields than the header; "
                    "quote fields that contain the delimiter)"
                ) from None
            except (pd.errors.ParserError, ValueError) as error:
                raise InputFormatError(f"{path.name}: not valid CSV ({error})") from None
            except _DECOMPRESSION_ERRORS as error:  # a gzip stream cut short after the sample
                raise _corrupt(path, error) from None
            except OSError as error:
                raise _unreadable(path, error) from None
            chunk = pd.DataFrame(
                {name: chunk.iloc[:, position] for name, position in positions.items()}
            )
            chunk.insert(0, LINE_NUMBER, range(first_line, first_line + len(chunk)))
            first_line += len(chunk)
            yield chunk.reset_index(drop=True)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _decode_sample(path: Path, sample: bytes) -> tuple[str, str]:
    """The sample as text and the file's encoding, refusing binary files."""
    if sample.startswith(ZIP_MAGIC):
        raise InputFormatError(f"{path.name}: is a zip archive, not CSV; extract it first")
    if any(byte in _BINARY_BYTES for byte in sample[:4096]):
        raise InputFormatError(f"{path.name}: is a binary file, not CSV text")
    try:
        return sample.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3:  # a character cut by the sample's end
            return sample[: error.start].decode("utf-8"), "utf-8"
        # Not UTF-8: Windows exports are usually cp1252; undecodable bytes become U+FFFD.
        return sample.decode("cp1252", errors="replace"), "cp1252"


def _resolve_columns(
    path: Path, schema: InputSchema, header: list[str], column_map: dict[str, str]
) -> dict[str, int]:
    """Position in the file of each canonical column present (required ones must be)."""
    unknown = sorted(set(column_map) - set(schema.columns))
    if unknown:
        raise InputFormatError(
            f"--columns maps onto {unknown[0]!r}, which is not a {schema.kind} column; "
            f"known columns: {list(schema.columns)}"
        )
    index = {name.lower(): position for position, name in enumerate(header)}
    positions: dict[str, int] = {}
    for canonical in schema.columns:
        source = column_map.get(canonical, canonical)
        position = index.get(source.lower())
        if position is None and canonical in column_map:
            raise InputFormatError(
                f"{path.name}: has no column {source!r} (named in --columns "
                f"{canonical}={source}); found columns: {header}"
            )
        if position is None and canonical in schema.required:
            raise InputFormatError(
                f"{path.name}: missing required column {canonical!r} for {schema.kind}; "
                f"found columns: {header} (map another name onto it with "
                f"--columns {canonical}=NAME)"
            )
        if position is not None:
            positions[canonical] = position
    return positions
