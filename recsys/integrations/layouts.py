"""Read an export's columns by role: the first of a role's export names that the file has.

CSV exports go through the project's CSV reader (delimiters, encodings, gzip, line numbers);
FOLIO's JSON is flattened first, and its ``line_number`` is the loan's position in the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pandas as pd

from recsys.data.readers import LINE_NUMBER, csv_chunks, csv_layout
from recsys.integrations import folio
from recsys.integrations.presets import Format, Names


@dataclass(frozen=True)
class RoleSource:
    """An export opened for reading: which column fills each role, and the chunks."""

    #: Role -> the export column found for it (roles the export lacks are absent).
    found: dict[str, str]
    #: The export's own column names, for error messages.
    header: list[str]
    #: Chunks with one column per found role plus ``line_number``.
    chunks: Iterator[pd.DataFrame]


def read_roles(
    path: Path, roles: Mapping[str, Names], export_format: Format, chunk_rows: int
) -> RoleSource:
    """Open `path` and find the column of each role (the header is checked before reading)."""
    if export_format is Format.FOLIO_JSON:
        return _json_roles(Path(path), roles, chunk_rows)
    layout = csv_layout(Path(path))
    positions: dict[str, int] = {}
    found: dict[str, str] = {}
    for role, names in roles.items():
        for name in names:
            position = layout.position(name)
            if position is not None:
                positions[role], found[role] = position, layout.header[position]
                break
    return RoleSource(found, layout.header, csv_chunks(layout, positions, chunk_rows))


def _json_roles(path: Path, roles: Mapping[str, Names], chunk_rows: int) -> RoleSource:
    loans = folio.read_loans(path)
    first = list(islice(loans, chunk_rows))
    keys = list(dict.fromkeys(key for loan in first for key in loan))
    found = {
        role: next(name for name in names if name in keys)
        for role, names in roles.items()
        if any(name in keys for name in names)
    }
    return RoleSource(found, keys, _json_chunks(first, loans, found, chunk_rows))


def _json_chunks(
    first: list[dict[str, str]],
    rest: Iterator[dict[str, str]],
    found: dict[str, str],
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    batch, start = first, 1
    while batch:
        # only the found fields are taken (never the borrower's name); one a loan lacks is NaN
        frame = pd.DataFrame(batch, columns=list(found.values()))
        chunk = pd.DataFrame(
            {role: frame[name].astype(object) for role, name in found.items()}, index=frame.index
        )
        chunk.insert(0, LINE_NUMBER, range(start, start + len(batch)))
        yield chunk
        start += len(batch)
        batch = list(islice(rest, chunk_rows))
