"""FOLIO's loans as JSON, flattened to one row per loan with dotted field names.

Accepted: the body of ``GET /circulation/loans`` (``{"loans": [...], "totalRecords": n}``,
schema ramls/loan.json of folio-org/mod-circulation), a JSON array of loans, or JSON Lines
(one loan a line, as scripts paging through the API write them); any of them gzip-compressed.
Nested objects become dotted names (``item.instanceId``); arrays (contributors) are dropped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recsys.exceptions import InputFormatError

GZIP_MAGIC = b"\x1f\x8b"
LOANS_KEY = "loans"
TOTAL_KEY = "totalRecords"


def read_loans(path: Path) -> Iterator[dict[str, str]]:
    """The loans of `path`, each flattened to ``{dotted name: text}``."""
    for number, record in enumerate(_records(Path(path)), start=1):
        if not isinstance(record, dict):
            raise InputFormatError(
                f"{Path(path).name}: loan {number} is a JSON {type(record).__name__}, not an object"
            )
        yield flatten(record)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"item": {"instanceId": "x"}}`` -> ``{"item.instanceId": "x"}``; scalars as text."""
    flat: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif value is not None and not isinstance(value, list):
            flat[name] = str(value)
    return flat


def _records(path: Path) -> Iterator[Any]:
    try:
        with _open(path) as handle:
            first = handle.readline()
            if _is_json_lines(first):
                yield from _json_lines(path, first, handle)
                return
            document = json.loads(first + handle.read())
    except UnicodeDecodeError as error:
        raise InputFormatError(f"{path.name}: not UTF-8 JSON ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise InputFormatError(f"{path.name}: not valid JSON ({error})") from None
    except (OSError, EOFError) as error:
        raise InputFormatError(f"{path.name}: not readable ({error})") from None
    if isinstance(document, dict) and isinstance(document.get(LOANS_KEY), list):
        yield from document[LOANS_KEY]
    elif isinstance(document, list):
        yield from document
    else:
        raise InputFormatError(
            f"{path.name}: expected the body of GET /circulation/loans (an object with a "
            '"loans" list), a JSON array of loans or JSON Lines'
        )


def _open(path: Path) -> Any:
    with path.open("rb") as handle:
        packed = handle.read(2) == GZIP_MAGIC
    if packed:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def _is_json_lines(first: str) -> bool:
    """A first line that is a whole loan: an object, but not a collection's body (those hold
    ``totalRecords`` and a list; a loan has no list at its top level)."""
    try:
        value = json.loads(first)
    except json.JSONDecodeError:
        return False
    if not isinstance(value, dict) or TOTAL_KEY in value:
        return False
    return not any(isinstance(field, list) for field in value.values())


def _json_lines(path: Path, first: str, handle: Any) -> Iterator[Any]:
    yield json.loads(first)
    for number, line in enumerate(handle, start=2):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise InputFormatError(
                    f"{path.name}: line {number} is not a JSON object ({error})"
                ) from None
