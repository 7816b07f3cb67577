"""Row validation: every quarantine reason, timestamp formats, duplicates, redacted details."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.data.readers import LINE_NUMBER
from recsys.data.schemas import ID_COLUMNS, MAX_ID_LENGTH, get_schema
from recsys.data.validation import REDACTED, DuplicateFilter, parse_timestamps, validate


def _frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype=object)
    frame.insert(0, LINE_NUMBER, range(2, 2 + len(frame)))
    return frame


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", 1_704_412_800),
        ("20240105", 1_704_412_800),
        ("2024-01-05T10:00:00", 1_704_448_800),
        ("2024-01-05 10:00:00+02:00", 1_704_441_600),
        ("2024-01-05T10:00:00Z", 1_704_448_800),
        ("1704412800", 1_704_412_800),
        (" 1704412800.9 ", 1_704_412_800),
        ("yesterday", None),
        ("05/01/2024", None),
        ("", None),
        ("1850-01-01", None),
        ("2999-01-01", None),
        ("1704412800000", None),  # milliseconds: far future, refused
    ],
)
def test_timestamps_become_unix_seconds_utc(text: str, expected: int | None) -> None:
    parsed = parse_timestamps(pd.Series([text], dtype=object))
    assert (None if pd.isna(parsed[0]) else int(parsed[0])) == expected


@pytest.mark.parametrize(
    ("kind", "row", "reason"),
    [
        (
            "loans",
            {"reader_id": " ", "book_id": "B", "borrowed_at": "2024-01-05"},
            "missing_reader_id",
        ),
        (
            "loans",
            {"reader_id": "P", "book_id": "", "borrowed_at": "2024-01-05"},
            "missing_book_id",
        ),
        ("loans", {"reader_id": "P", "book_id": "B", "borrowed_at": "soon"}, "bad_timestamp"),
        (
            "loans",
            {"reader_id": "P", "book_id": "B", "borrowed_at": "2024-01-05", "event": "borrowed"},
            "unknown_event",
        ),
        (
            "views",
            {"session_id": "", "book_id": "B", "viewed_at": "2024-01-05"},
            "missing_session_id",
        ),
        ("views", {"session_id": "S", "book_id": "B", "viewed_at": "13/13/2024"}, "bad_timestamp"),
        ("catalog", {"book_id": "B", "title": ""}, "missing_title"),
        ("catalog", {"book_id": "", "title": "T"}, "missing_book_id"),
        ("catalog", {"book_id": "B", "title": "T", "year": "c1999"}, "bad_number"),
        ("catalog", {"book_id": "B", "title": "T", "audience": "seniors"}, "unknown_audience"),
        ("holdings", {"book_id": "B", "library_id": ""}, "missing_library_id"),
        ("holdings", {"book_id": "B", "library_id": "L", "copies": "two"}, "bad_number"),
        ("holdings", {"book_id": "B", "library_id": "L", "available": "-1"}, "bad_number"),
    ],
)
def test_each_bad_row_gets_its_reason(kind: str, row: dict[str, str], reason: str) -> None:
    result = validate(_frame([row]), get_schema(kind))
    assert result.accepted.empty
    assert result.quarantined[["line_number", "reason"]].values.tolist() == [[2, reason]]


def test_loans_are_typed_and_events_normalized() -> None:
    frame = _frame(
        [
            {"reader_id": "P1", "book_id": "B1", "borrowed_at": "2024-01-05", "event": ""},
            {"reader_id": "P1", "book_id": "B1", "borrowed_at": "2024-01-05", "event": "Renew"},
            {"reader_id": "P2", "book_id": "B2", "borrowed_at": "1704412800", "event": "HOLD"},
        ]
    )
    accepted = validate(frame, get_schema("loans")).accepted
    assert accepted["event"].tolist() == ["loan", "renewal", "hold"]
    assert accepted["borrowed_at"].tolist() == [1_704_412_800] * 3
    assert accepted["library_id"].tolist() == [None, None, None]


def test_catalog_and_holdings_values_are_normalized() -> None:
    catalog = validate(
        _frame(
            [
                {
                    "book_id": "B1",
                    "title": " Emma ",
                    "audience": "Young Adult",
                    "year": "1815",
                    "language": "ENG",
                }
            ]
        ),
        get_schema("catalog"),
    ).accepted
    assert catalog.loc[0, ["title", "audience", "year", "language"]].tolist() == [
        "Emma",
        "young_adult",
        1815,
        "eng",
    ]
    holdings = validate(
        _frame(
            [
                {"book_id": "B1", "library_id": "L1", "copies": "3.0"},
                {"book_id": "B2", "library_id": "L1"},
            ]
        ),
        get_schema("holdings"),
    ).accepted
    assert holdings[["copies", "available"]].values.tolist() == [[3, 3], [1, 1]]


def test_duplicates_are_found_within_and_across_chunks() -> None:
    schema = get_schema("loans")
    row = {"reader_id": "P1", "book_id": "B1", "borrowed_at": "2024-01-05"}
    same_time = {**row, "borrowed_at": "1704412800", "event": "loan"}
    duplicates = DuplicateFilter()
    first = validate(_frame([row, same_time]), schema, duplicates=duplicates)
    second = validate(_frame([row, {**row, "event": "renewal"}]), schema, duplicates=duplicates)
    assert first.quarantined["reason"].tolist() == ["duplicate"]
    assert len(first.accepted) == 1
    assert second.quarantined["reason"].tolist() == ["duplicate"]
    assert second.accepted["event"].tolist() == ["renewal"]


def test_duplicate_filter_keeps_its_memory_sorted() -> None:
    duplicates = DuplicateFilter()
    rng = np.random.default_rng(0)
    keys = pd.DataFrame({"k": rng.integers(0, 500, 2_000)})
    marked = np.concatenate([duplicates.mark(keys.iloc[i : i + 300]) for i in range(0, 2_000, 300)])
    np.testing.assert_array_equal(marked, keys["k"].duplicated().to_numpy())


def test_quarantine_detail_redacts_the_reader_id() -> None:
    frame = _frame(
        [{"reader_id": "CARD-0042", "book_id": "B1", "borrowed_at": "never", "copy_id": "C9"}]
    )
    detail = json.loads(validate(frame, get_schema("loans")).quarantined.loc[0, "detail"])
    assert detail == {
        "reader_id": REDACTED,
        "book_id": "B1",
        "borrowed_at": "never",
        "copy_id": "C9",
    }


def test_view_without_reader_is_accepted_as_anonymous() -> None:
    frame = _frame([{"session_id": "S1", "book_id": "B1", "viewed_at": "2024-01-05"}])
    accepted = validate(frame, get_schema("views")).accepted
    assert accepted["reader_id"].tolist() == [None]


#: A valid row of each kind (its id columns get replaced by the test below).
VALID_ROWS = {
    "loans": {
        "reader_id": "P",
        "book_id": "B",
        "borrowed_at": "2024-01-05",
        "library_id": "L",
        "copy_id": "C",
    },
    "views": {"session_id": "S", "book_id": "B", "viewed_at": "2024-01-05", "reader_id": "P"},
    "catalog": {"book_id": "B", "title": "T", "work_id": "W"},
    "holdings": {"book_id": "B", "library_id": "L"},
    "consent": {"reader_id": "P", "consented": "yes"},
}
ID_LENGTHS = st.one_of(
    st.integers(1, MAX_ID_LENGTH + 3), st.integers(MAX_ID_LENGTH - 2, MAX_ID_LENGTH + 2)
)


@st.composite
def _rows_with_ids(draw: st.DrawFn) -> tuple[str, list[dict[str, str]]]:
    kind = draw(st.sampled_from(sorted(VALID_ROWS)))
    id_columns = [name for name in VALID_ROWS[kind] if name in ID_COLUMNS]
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        lengths = {name: draw(ID_LENGTHS) for name in id_columns}
        character = draw(st.sampled_from(["x", "é", "書"]))
        rows.append({**VALID_ROWS[kind], **{n: character * k for n, k in lengths.items()}})
    return kind, rows


@given(case=_rows_with_ids())
def test_a_row_is_quarantined_as_id_too_long_exactly_when_an_id_exceeds_the_limit(
    case: tuple[str, list[dict[str, str]]],
) -> None:
    kind, rows = case
    result = validate(_frame(rows), get_schema(kind))
    too_long = [any(len(v) > MAX_ID_LENGTH for n, v in r.items() if n in ID_COLUMNS) for r in rows]
    assert result.quarantined[LINE_NUMBER].tolist() == [
        line for line, bad in zip(range(2, 2 + len(rows)), too_long, strict=True) if bad
    ]
    assert set(result.quarantined["reason"]) <= {"id_too_long"}
    assert len(result.accepted) == too_long.count(False)


def test_a_huge_field_is_cut_short_in_the_quarantine_detail() -> None:
    huge = "=" * 5_000_000
    row = {"reader_id": "CARD-1", "book_id": huge, "borrowed_at": "2024-01-05"}
    result = validate(_frame([row]), get_schema("loans"))
    assert result.quarantined["reason"].tolist() == ["id_too_long"]
    detail = json.loads(result.quarantined["detail"][0])
    assert detail["book_id"] == "=" * 256 + "... (5000000 characters)"
    assert detail["reader_id"] == REDACTED
