"""Independent answers for the filter tests, computed straight from the catalog and holdings."""

from __future__ import annotations

import pandas as pd

from recsys.columns import Columns as C


def work_of(catalog: pd.DataFrame) -> dict[str, str]:
    return {
        b: (w if isinstance(w, str) else f"book:{b}")
        for b, w in zip(catalog[C.BOOK_ID], catalog[C.WORK_ID], strict=True)
    }


def eligible_books(
    catalog: pd.DataFrame, holdings: pd.DataFrame, params: dict[str, object], blocked: set[str]
) -> set[str]:
    """Books a list may hold: the filters, minus every edition of blocked or excluded books."""
    frame = catalog
    library = params.get("library")
    if library is not None:
        held = holdings[holdings[C.LIBRARY_ID] == library]
        if params.get("available_only"):
            held = held[held[C.AVAILABLE] > 0]
        else:
            held = held[held[C.COPIES] > 0]
        frame = frame[frame[C.BOOK_ID].isin(held[C.BOOK_ID])]
    elif params.get("available_only"):
        frame = frame[frame[C.BOOK_ID].isin(holdings.loc[holdings[C.AVAILABLE] > 0, C.BOOK_ID])]
    for column in (C.AUDIENCE, C.FORMAT, C.LANGUAGE):
        if params.get(column) is not None:
            frame = frame[frame[column] == params[column]]
    works = work_of(catalog)
    excluded = {*blocked, *params.get("exclude", [])}  # type: ignore[misc]
    blocked_works = {works[b] for b in excluded if b in works}
    return {b for b in frame[C.BOOK_ID] if works[b] not in blocked_works}


def expected_length(catalog: pd.DataFrame, eligible: set[str], k: int) -> int:
    """k, or fewer when fewer eligible works exist (one edition per work)."""
    works = work_of(catalog)
    return min(k, len({works[b] for b in eligible}))


FILTER_CASES: list[dict[str, object]] = [
    {},
    {"library": "NOR"},
    {"library": "CEN", "available_only": True},
    {"available_only": True},
    {"audience": "children"},
    {"audience": "young_adult", "library": "NOR"},
    {"format": "ebook"},
    {"language": "fre"},
    {"language": "eng", "audience": "adult", "library": "CEN", "available_only": True},
    {"exclude": ["B004", "B105", "B200"]},
    {"library": "NOWHERE"},
]
