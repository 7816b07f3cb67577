"""Row validation: split a chunk into accepted rows (clean, typed) and quarantined rows.

Vectorized with pandas so a million rows take seconds. Each bad row gets one reason (the first
rule it breaks) and a JSON ``detail`` of its contract fields with the reader id replaced by
``<redacted>``: the quarantine must never hold a raw reader id. Fields are cut to
`DETAIL_CHARS` characters there, so a huge value cannot blow up the quarantine either.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from recsys.columns import Audiences, Events
from recsys.columns import Columns as C
from recsys.consent import CONSENT_ANSWERS, UNDATED
from recsys.data.marc import PRESET_REASON
from recsys.data.readers import LINE_NUMBER
from recsys.data.schemas import ID_COLUMNS, MAX_ID_LENGTH, InputSchema

REASON: Final = C.REASON
DETAIL: Final = "detail"
REDACTED: Final = "<redacted>"
QUARANTINE_COLUMNS: Final = (LINE_NUMBER, REASON, DETAIL)
DETAIL_CHARS: Final = 2 * MAX_ID_LENGTH

MIN_TIMESTAMP: Final = -2_208_988_800  # 1900-01-01: older "events" are export errors
DAY_SECONDS: Final = 86_400
FUTURE_SLACK_SECONDS: Final = 2 * DAY_SECONDS  # clock skew between the ILS and this machine
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_COUNT = r"\d+(?:\.0*)?"  # spreadsheets write counts as "3.0"

EVENT_ALIASES: Final = {
    "loan": Events.LOAN,
    "checkout": Events.LOAN,
    "check-out": Events.LOAN,
    "issue": Events.LOAN,
    "renewal": Events.RENEWAL,
    "renew": Events.RENEWAL,
    "hold": Events.HOLD,
    "reserve": Events.HOLD,
    "reservation": Events.HOLD,
}
AUDIENCE_ALIASES: Final = {
    "children": Audiences.CHILDREN,
    "child": Audiences.CHILDREN,
    "juvenile": Audiences.CHILDREN,
    "kids": Audiences.CHILDREN,
    "young_adult": Audiences.YOUNG_ADULT,
    "young adult": Audiences.YOUNG_ADULT,
    "young-adult": Audiences.YOUNG_ADULT,
    "ya": Audiences.YOUNG_ADULT,
    "teen": Audiences.YOUNG_ADULT,
    "adult": Audiences.ADULT,
    "general": Audiences.ADULT,
}


class Reasons:
    """Why a row was quarantined (the values stored in ``quarantine.reason``)."""

    MISSING_READER_ID: Final = "missing_reader_id"
    MISSING_BOOK_ID: Final = "missing_book_id"
    MISSING_SESSION_ID: Final = "missing_session_id"
    MISSING_LIBRARY_ID: Final = "missing_library_id"
    MISSING_TITLE: Final = "missing_title"
    ID_TOO_LONG: Final = "id_too_long"  # longer than MAX_ID_LENGTH characters
    MISSING_COPY_ID: Final = "missing_copy_id"
    #: An item-level loan whose item no stored items export maps to a record.
    UNKNOWN_ITEM: Final = "unknown_item"
    BAD_TIMESTAMP: Final = "bad_timestamp"
    UNKNOWN_EVENT: Final = "unknown_event"
    UNKNOWN_AUDIENCE: Final = "unknown_audience"
    BAD_NUMBER: Final = "bad_number"
    DUPLICATE: Final = "duplicate"
    BAD_RECORD: Final = "bad_record"
    UNKNOWN_CONSENT: Final = "unknown_consent"


@dataclass(frozen=True)
class Validated:
    """One validated chunk: typed canonical rows, and bad rows with reason and redacted detail."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame


class DuplicateFilter:
    """Remembers row keys across the chunks of one file (64-bit hashes, kept sorted)."""

    def __init__(self) -> None:
        self._seen = np.empty(0, dtype=np.uint64)

    def mark(self, keys: pd.DataFrame) -> np.ndarray:
        """True for rows whose key appeared earlier in this chunk or a previous one."""
        hashes = pd.util.hash_pandas_object(keys, index=False).to_numpy()
        repeated = pd.Series(hashes).duplicated().to_numpy().copy()
        if len(self._seen):
            positions = np.searchsorted(self._seen, hashes).clip(max=len(self._seen) - 1)
            repeated |= self._seen[positions] == hashes
        # Both parts are sorted, so the stable sort (timsort) merges them in linear time.
        merged = np.concatenate([self._seen, np.sort(hashes[~repeated])])
        self._seen = np.sort(merged, kind="stable")
        return repeated


def validate(
    frame: pd.DataFrame, schema: InputSchema, *, duplicates: DuplicateFilter | None = None
) -> Validated:
    """Validate one chunk of canonical string columns (plus ``line_number``) of `schema.kind`."""
    raw = pd.DataFrame(
        {name: _clean(frame[name]) if name in frame else _missing(frame) for name in schema.columns}
    )
    preset = frame[PRESET_REASON] if PRESET_REASON in frame else _missing(frame)
    clean, checks = _RULES[schema.kind](raw)
    checks += [
        (raw[name].str.len() > MAX_ID_LENGTH, Reasons.ID_TOO_LONG)
        for name in schema.columns
        if name in ID_COLUMNS
    ]
    reason = preset.astype(object).where(preset.notna(), None)
    for broken, name in checks:
        reason = reason.mask(reason.isna() & broken, name)
    ok = reason.isna().to_numpy().copy()
    if duplicates is not None and ok.any():
        repeated = np.zeros(len(frame), dtype=bool)
        repeated[ok] = duplicates.mark(clean.loc[ok, list(schema.key)])
        reason = reason.mask(repeated, Reasons.DUPLICATE)
        ok &= ~repeated
    accepted = clean.loc[ok].copy()
    accepted.insert(0, LINE_NUMBER, frame[LINE_NUMBER].to_numpy()[ok])
    return Validated(
        accepted=accepted.reset_index(drop=True),
        quarantined=_quarantine(raw.loc[~ok], frame[LINE_NUMBER][~ok], reason[~ok]),
    )


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 dates/datetimes (naive = UTC; also basic YYYYMMDD) or Unix seconds -> Int64.

    Seconds are UTC since the epoch. Unparseable values and times before 1900 or in the future
    become <NA>. ISO wins where both readings are possible ("20240105" is a date).
    """
    text = _clean(values)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    seconds = ((parsed - _EPOCH) // pd.Timedelta(seconds=1)).astype("Int64")
    rest = parsed.isna() & text.notna()
    if rest.any():
        numbers = pd.to_numeric(text[rest], errors="coerce")
        numbers = numbers[np.isfinite(numbers) & (numbers.abs() < 1e15)]
        seconds[numbers.index] = np.floor(numbers).astype("int64")
    latest = int(time.time()) + FUTURE_SLACK_SECONDS
    return seconds.where((seconds >= MIN_TIMESTAMP) & (seconds <= latest))


def retention_cutoff(retention_days: int, *, now: float | None = None) -> int:
    """Unix seconds before which loans and views are past the retention window: ingest does not
    store them and the nightly deletes them."""
    return int((time.time() if now is None else now) - retention_days * DAY_SECONDS)


def utc_day(seconds: float | None) -> str:
    """A Unix time as its UTC date (YYYY-MM-DD), for messages."""
    return "never" if seconds is None else time.strftime("%Y-%m-%d", time.gmtime(seconds))


def _clean(values: pd.Series) -> pd.Series:
    """Stripped strings as object dtype, NaN for missing or blank (pandas 2 and 3 alike)."""
    text = values.astype(object).where(values.notna(), "")
    text = text.str.strip()
    return text.mask(text == "")


def _missing(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(np.nan, index=frame.index, dtype=object)


def _none(values: pd.Series) -> pd.Series:
    """Object column with None for missing (what the DBAPI expects for NULL)."""
    return values.astype(object).where(values.notna(), None)


def _counts(values: pd.Series) -> pd.Series:
    """Non-negative integer counts as Int64; unparseable ones <NA>."""
    good = values.str.fullmatch(_COUNT, na=False)
    parsed = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if good.any():
        parsed[good] = pd.to_numeric(values[good]).astype("int64")
    return parsed


Checks = list[tuple[pd.Series, str]]
Rule = Callable[[pd.DataFrame], tuple[pd.DataFrame, Checks]]


def _loans(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    borrowed_at = parse_timestamps(raw[C.BORROWED_AT])
    event = raw[C.EVENT].str.lower().map(EVENT_ALIASES)
    event = event.where(raw[C.EVENT].notna(), Events.LOAN)
    clean = pd.DataFrame(
        {
            C.READER_ID: raw[C.READER_ID],
            C.BOOK_ID: raw[C.BOOK_ID],
            C.BORROWED_AT: borrowed_at,
            C.EVENT: event,
            C.LIBRARY_ID: _none(raw[C.LIBRARY_ID]),
            C.COPY_ID: _none(raw[C.COPY_ID]),
        }
    )
    return clean, [
        (raw[C.READER_ID].isna(), Reasons.MISSING_READER_ID),
        (raw[C.BOOK_ID].isna(), Reasons.MISSING_BOOK_ID),
        (borrowed_at.isna(), Reasons.BAD_TIMESTAMP),
        (event.isna(), Reasons.UNKNOWN_EVENT),
    ]


def _views(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    viewed_at = parse_timestamps(raw[C.VIEWED_AT])
    clean = pd.DataFrame(
        {
            C.SESSION_ID: raw[C.SESSION_ID],
            C.BOOK_ID: raw[C.BOOK_ID],
            C.VIEWED_AT: viewed_at,
            C.READER_ID: _none(raw[C.READER_ID]),
        }
    )
    return clean, [
        (raw[C.SESSION_ID].isna(), Reasons.MISSING_SESSION_ID),
        (raw[C.BOOK_ID].isna(), Reasons.MISSING_BOOK_ID),
        (viewed_at.isna(), Reasons.BAD_TIMESTAMP),
    ]


def _catalog(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    year = raw[C.YEAR]
    good_year = year.str.fullmatch(r"\d{1,4}", na=False)
    audience = raw[C.AUDIENCE].str.lower().map(AUDIENCE_ALIASES)
    clean = pd.DataFrame(
        {
            C.BOOK_ID: raw[C.BOOK_ID],
            C.TITLE: raw[C.TITLE],
            C.AUTHOR: _none(raw[C.AUTHOR]),
            C.SUBJECTS: _none(raw[C.SUBJECTS]),
            C.ISBN: _none(raw[C.ISBN]),
            C.LANGUAGE: _none(raw[C.LANGUAGE].str.lower()),
            C.AUDIENCE: _none(audience),
            C.YEAR: _none(year.where(good_year).astype(object).map(_int_or_none)),
            C.WORK_ID: _none(raw[C.WORK_ID]),
            C.FORMAT: _none(raw[C.FORMAT].str.lower()),
        }
    )
    return clean, [
        (raw[C.BOOK_ID].isna(), Reasons.MISSING_BOOK_ID),
        (raw[C.TITLE].isna(), Reasons.MISSING_TITLE),
        (year.notna() & ~good_year, Reasons.BAD_NUMBER),
        (raw[C.AUDIENCE].notna() & audience.isna(), Reasons.UNKNOWN_AUDIENCE),
    ]


def _holdings(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    copies = _counts(raw[C.COPIES])
    available = _counts(raw[C.AVAILABLE])
    clean = pd.DataFrame(
        {
            C.BOOK_ID: raw[C.BOOK_ID],
            C.LIBRARY_ID: raw[C.LIBRARY_ID],
            C.COPIES: copies.fillna(1),
            C.AVAILABLE: available.fillna(copies.fillna(1)),
        }
    )
    return clean, [
        (raw[C.BOOK_ID].isna(), Reasons.MISSING_BOOK_ID),
        (raw[C.LIBRARY_ID].isna(), Reasons.MISSING_LIBRARY_ID),
        (raw[C.COPIES].notna() & copies.isna(), Reasons.BAD_NUMBER),
        (raw[C.AVAILABLE].notna() & available.isna(), Reasons.BAD_NUMBER),
    ]


def _items(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    clean = pd.DataFrame(
        {
            C.COPY_ID: raw[C.COPY_ID],
            C.BOOK_ID: raw[C.BOOK_ID],
            C.LIBRARY_ID: _none(raw[C.LIBRARY_ID]),
        }
    )
    return clean, [
        (raw[C.COPY_ID].isna(), Reasons.MISSING_COPY_ID),
        (raw[C.BOOK_ID].isna(), Reasons.MISSING_BOOK_ID),
    ]


def _consent(raw: pd.DataFrame) -> tuple[pd.DataFrame, Checks]:
    answer = raw[C.CONSENTED].str.lower().map(CONSENT_ANSWERS)
    stamped = parse_timestamps(raw[C.UPDATED_AT])
    # an undated answer ranks by the rule of `recsys.consent`, never as given at ingest time
    updated_at = stamped.where(raw[C.UPDATED_AT].notna(), UNDATED)
    clean = pd.DataFrame(
        {
            C.READER_ID: raw[C.READER_ID],
            C.CONSENTED: answer,
            C.UPDATED_AT: updated_at,
        }
    )
    return clean, [
        (raw[C.READER_ID].isna(), Reasons.MISSING_READER_ID),
        (answer.isna(), Reasons.UNKNOWN_CONSENT),
        (updated_at.isna(), Reasons.BAD_TIMESTAMP),
    ]


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, str) else None


_RULES: dict[str, Rule] = {
    "loans": _loans,
    "views": _views,
    "catalog": _catalog,
    "holdings": _holdings,
    "items": _items,
    "consent": _consent,
}


def _quarantine(raw: pd.DataFrame, lines: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    """Bad rows with their reason and a JSON detail whose reader id is redacted."""
    shown = raw.copy()
    if C.READER_ID in shown:
        shown[C.READER_ID] = shown[C.READER_ID].where(shown[C.READER_ID].isna(), REDACTED)
    details = [
        json.dumps(
            {k: _shortened(v) for k, v in row.items() if isinstance(v, str)}, ensure_ascii=False
        )
        for row in shown.to_dict("records")
    ]
    return pd.DataFrame(
        {
            LINE_NUMBER: lines.to_numpy(dtype=np.int64),
            REASON: reasons.to_numpy(dtype=object),
            DETAIL: details,
        }
    )


def _shortened(value: str) -> str:
    if len(value) <= DETAIL_CHARS:
        return value
    return f"{value[:DETAIL_CHARS]}... ({len(value)} characters)"
