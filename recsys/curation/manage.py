"""Making, removing, listing, importing and exporting librarians' rules and reading lists.

The CLI (`recsys curation ...`, `recsys lists ...`) and the admin API call these; each checks
what it is given and raises `CurationError` naming the field and the rule, so a bad rule is
never stored. Times are Unix seconds here; CSV files carry ISO 8601 dates or datetimes.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from recsys.columns import Audiences
from recsys.curation.rules import (
    BOOST,
    BURY,
    NEVER_PAIR,
    PIN,
    RULE_KINDS,
    STAFF_PICK,
    SUPPRESS,
    Rule,
)
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.db import curation as store
from recsys.exceptions import RecsysError

#: The furthest slot a pin may take (the longest list the API gives).
MAX_SLOT = 100
MAX_LABEL = 200
LIST_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: Columns of a rules CSV (import takes the first eleven; export adds who made each and when).
RULE_COLUMNS = (
    "kind",
    "book_id",
    "anchor_id",
    "position",
    "factor",
    "label",
    "library_id",
    "audience",
    "starts_at",
    "expires_at",
    "reason",
)
EXPORT_COLUMNS = ("rule_id", *RULE_COLUMNS, "created_by", "created_at")


class CurationError(RecsysError):
    """A rule or reading list breaks a rule of its own (the message names which)."""


@dataclass(frozen=True)
class ReadingList:
    """A librarian's published reading list: books in order, each with an optional note."""

    list_id: str
    title: str
    description: str | None
    audience: str | None
    library_id: str | None
    books: tuple[tuple[str, str | None], ...]
    created_by: str
    created_at: int
    updated_at: int


def add_rule(
    engine: Engine,
    *,
    kind: str,
    book_id: str,
    created_by: str,
    reason: str,
    anchor_id: str | None = None,
    position: int | None = None,
    factor: float | None = None,
    label: str | None = None,
    library_id: str | None = None,
    audience: str | None = None,
    starts_at: int | None = None,
    expires_at: int | None = None,
    now: float | None = None,
) -> Rule:
    """Check and store one rule; returns it with its id."""
    row = _checked(
        {
            "kind": kind,
            "book_id": book_id,
            "anchor_id": anchor_id,
            "position": position,
            "factor": factor,
            "label": label,
            "library_id": library_id,
            "audience": audience,
            "starts_at": starts_at,
            "expires_at": expires_at,
            "reason": reason,
        },
        created_by=created_by,
        now=now,
    )
    (rule_id,) = store.insert_rules(engine, [row])
    return _rule({**row, "rule_id": rule_id})


def remove_rule(
    engine: Engine, rule_id: int, *, removed_by: str, reason: str, now: float | None = None
) -> None:
    """End a rule now (it stays in the audit trail); refuses an unknown or removed rule."""
    _require_text("reason", reason)
    at = int(time.time() if now is None else now)
    if not store.mark_rule_removed(engine, rule_id=rule_id, at=at, by=removed_by, reason=reason):
        raise CurationError(f"rule_id {rule_id} is not a rule in force; see `recsys curation list`")


def rules(engine: Engine, *, include_removed: bool = False) -> list[Rule]:
    """The rules not removed (with `include_removed`, every rule ever made), oldest first."""
    return [_rule(row) for row in store.rule_rows(engine, include_removed=include_removed)]


def import_rules(
    engine: Engine, frame: pd.DataFrame, *, created_by: str, now: float | None = None
) -> list[int]:
    """Store every rule of a CSV (`RULE_COLUMNS`) in one transaction, or none if one is bad
    (the error names its line)."""
    missing = [c for c in ("kind", "book_id", "reason") if c not in frame.columns]
    if missing:
        raise CurationError(f"the rules file lacks the columns {missing}; it needs {RULE_COLUMNS}")
    rows = []
    for line, record in enumerate(frame.to_dict("records"), start=2):
        values = {c: _cell(record.get(c)) for c in RULE_COLUMNS}
        try:
            for column in ("starts_at", "expires_at"):
                values[column] = _timestamp(column, values[column])
            for column in ("position",):
                values[column] = (
                    None if values[column] is None else _integer(column, values[column])
                )
            if values["factor"] is not None:
                values["factor"] = _number("factor", values["factor"])
            rows.append(_checked(values, created_by=created_by, now=now))
        except CurationError as error:
            raise CurationError(f"line {line}: {error}") from None
    return store.insert_rules(engine, rows) if rows else []


def export_rules(engine: Engine, *, include_removed: bool = False) -> pd.DataFrame:
    """The rules as a CSV-ready frame (`EXPORT_COLUMNS`, times in ISO 8601)."""
    records = []
    for rule in rules(engine, include_removed=include_removed):
        record = {column: getattr(rule, column, None) for column in EXPORT_COLUMNS}
        record["rule_id"] = rule.id
        for column in ("starts_at", "expires_at", "created_at"):
            record[column] = iso(record[column])
        records.append(record)
    return pd.DataFrame(records, columns=list(EXPORT_COLUMNS))


def save_reading_list(
    engine: Engine,
    *,
    list_id: str,
    title: str,
    books: Sequence[str | tuple[str, str | None]],
    created_by: str,
    description: str | None = None,
    audience: str | None = None,
    library_id: str | None = None,
    now: float | None = None,
) -> None:
    """Publish (or replace) a reading list of `books` in order (ids, or (id, note) pairs)."""
    if not LIST_ID.match(list_id or ""):
        raise CurationError(
            "list_id must be 1 to 64 lowercase letters, digits or hyphens, starting with a letter "
            "or digit (it goes into URLs)"
        )
    _require_text("title", title)
    _check_audience(audience)
    _check_id("library_id", library_id, required=False)
    pairs = [(b, None) if isinstance(b, str) else (b[0], b[1]) for b in books]
    if not pairs:
        raise CurationError("books is empty; a reading list needs at least one book")
    for book, _ in pairs:
        _check_id("book_id", book, required=True)
    repeated = sorted({b for b, _ in pairs if [x for x, _ in pairs].count(b) > 1})
    if repeated:
        raise CurationError(f"books lists {len(repeated)} book id(s) twice; each book once")
    at = int(time.time() if now is None else now)
    row = {
        "list_id": list_id,
        "title": title.strip(),
        "description": description,
        "audience": audience,
        "library_id": library_id,
        "created_by": created_by,
        "created_at": at,
        "updated_at": at,
    }
    store.save_reading_list(engine, row=row, books=pairs)


def remove_reading_list(engine: Engine, list_id: str, *, now: float | None = None) -> None:
    at = int(time.time() if now is None else now)
    if not store.mark_reading_list_removed(engine, list_id=list_id, at=at):
        raise CurationError(f"list_id {list_id!r} is not a published reading list")


def reading_lists(engine: Engine) -> list[ReadingList]:
    """Every published reading list, by id."""
    return [
        ReadingList(
            list_id=row["list_id"],
            title=row["title"],
            description=row["description"],
            audience=row["audience"],
            library_id=row["library_id"],
            books=tuple(books),
            created_by=row["created_by"],
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
        )
        for row, books in store.reading_list_rows(engine)
    ]


# ------------------------------------------------------------------------------- checking
def _checked(values: dict[str, Any], *, created_by: str, now: float | None) -> dict[str, Any]:
    """The row to store for a rule, or `CurationError` naming what breaks which rule."""
    kind = values["kind"]
    if kind not in RULE_KINDS:
        raise CurationError(f"kind must be one of {list(RULE_KINDS)}; got {kind!r}")
    _check_id("book_id", values["book_id"], required=True)
    _check_id("anchor_id", values["anchor_id"], required=kind == NEVER_PAIR)
    _check_id("library_id", values["library_id"], required=False)
    _check_audience(values["audience"])
    _require_text("reason", values["reason"])
    position, factor, label = values["position"], values["factor"], values["label"]
    if kind in (PIN, STAFF_PICK):
        if position is None or not 1 <= int(position) <= MAX_SLOT:
            raise CurationError(f"position must be a slot from 1 to {MAX_SLOT} for a {kind}")
    elif position is not None:
        raise CurationError(f"position is only for pin and staff_pick rules, not {kind}")
    if kind == BOOST and not (factor is not None and math.isfinite(factor) and factor > 1):
        raise CurationError(f"factor must be a number above 1 for a boost; got {factor!r}")
    if kind == BURY and not (factor is not None and math.isfinite(factor) and 0 < factor < 1):
        raise CurationError(f"factor must be a number between 0 and 1 for a bury; got {factor!r}")
    if kind not in (BOOST, BURY) and factor is not None:
        raise CurationError(f"factor is only for boost and bury rules, not {kind}")
    if kind != STAFF_PICK and label is not None:
        raise CurationError(f"label is only for staff_pick rules, not {kind}")
    if label is not None and not 1 <= len(label.strip()) <= MAX_LABEL:
        raise CurationError(f"label must have 1 to {MAX_LABEL} characters")
    if kind == NEVER_PAIR and values["anchor_id"] == values["book_id"]:
        raise CurationError(
            "anchor_id must differ from book_id: a book is never paired with itself"
        )
    if kind in (SUPPRESS, BOOST, BURY) and values["anchor_id"] is not None:
        raise CurationError(
            f"anchor_id is only for pin, staff_pick and never_pair rules, not {kind}"
        )
    at = int(time.time() if now is None else now)
    starts = at if values["starts_at"] is None else int(values["starts_at"])
    expires = None if values["expires_at"] is None else int(values["expires_at"])
    if expires is not None and expires <= starts:
        raise CurationError("expires_at must come after starts_at")
    if not created_by.strip():
        raise CurationError("created_by must name who makes the rule")
    return {
        **values,
        "position": None if position is None else int(position),
        "factor": None if factor is None else float(factor),
        "label": None if label is None else label.strip(),
        "reason": values["reason"].strip(),
        "starts_at": starts,
        "expires_at": expires,
        "created_by": created_by.strip(),
        "created_at": at,
    }


def _check_id(name: str, value: str | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise CurationError(f"{name} is required")
        return
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise CurationError(f"{name} must have 1 to {MAX_ID_LENGTH} characters")


def _check_audience(value: str | None) -> None:
    if value is not None and value not in Audiences.ALL:
        raise CurationError(f"audience must be one of {list(Audiences.ALL)}; got {value!r}")


def _require_text(name: str, value: str | None) -> None:
    if value is None or not str(value).strip():
        raise CurationError(f"{name} is required: say why, for the audit trail")


def _rule(row: dict[str, Any]) -> Rule:
    return Rule(
        id=int(row["rule_id"]),
        kind=row["kind"],
        book_id=row["book_id"],
        anchor_id=row["anchor_id"],
        position=row["position"],
        factor=row["factor"],
        label=row["label"],
        library_id=row["library_id"],
        audience=row["audience"],
        starts_at=int(row["starts_at"]),
        expires_at=None if row["expires_at"] is None else int(row["expires_at"]),
        created_by=row["created_by"],
        created_at=int(row["created_at"]),
        reason=row["reason"],
    )


def _cell(value: object) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _timestamp(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise CurationError(f"{name} must be an ISO 8601 date or datetime") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.timestamp())


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CurationError(f"{name} must be a whole number") from None


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CurationError(f"{name} must be a number") from None


def iso(value: int | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC datetime."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC).isoformat(timespec="seconds")


def parse_when(name: str, value: str | None) -> int | None:
    """An ISO 8601 date or datetime (UTC unless it says otherwise) as Unix seconds."""
    return _timestamp(name, value)
