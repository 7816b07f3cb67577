"""The one renderer of lists: JSON bodies for the service, rows and files for the batch CSV.

Every answer of a list route is rendered here, whether the front door or a route answers, so the
bytes are the same whoever made them; the batch CSV takes the same items.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
from pydantic_core import to_json

from recsys.lists.pipeline import RankedList

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel

#: Decimals of a rendered score (the API's and the batch CSV's).
SCORE_DECIMALS = 6


def items(served: ServedModel, ranked: RankedList) -> Iterator[dict[str, Any]]:
    """The list's items as plain dicts, in the response schema's field order."""
    catalog = served.catalog
    book_ids, titles, authors = catalog.book_ids, catalog.titles, catalog.authors
    availability = catalog.availability(ranked.positions, ranked.library)
    for rank, (p, s, reason, where) in enumerate(
        zip(
            ranked.positions.tolist(),
            ranked.scores.tolist(),
            ranked.reasons,
            availability,
            strict=True,
        ),
        start=1,
    ):
        yield {
            "book_id": str(book_ids[p]),
            "title": titles[p],
            "author": authors[p],
            "score": round(s, SCORE_DECIMALS) if math.isfinite(s) else 0.0,
            "rank": rank,
            "reason": reason or None,
            "availability": where,
        }


def render(served: ServedModel, ranked: RankedList, **fields: Any) -> bytes:
    """A list route's JSON body: items, the model version, the strategy, then `fields`
    (the per-book list's `book_id`, the popular list's `library`, `audience`, `period`)."""
    return to_json(
        {
            "items": list(items(served, ranked)),
            "model_version": served.version,
            "strategy": ranked.strategy,
            **fields,
        }
    )


#: Cell starts a spreadsheet reads as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(frame: pd.DataFrame, target: Path | IO[str]) -> None:
    """Write `frame` as CSV with every text cell made safe to open in a spreadsheet.

    Ids come from catalogs and export files, so one like ``=HYPERLINK(...)`` would run as a
    formula in Excel or LibreOffice. Following OWASP's rule, a text cell starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single quote, which
    spreadsheets show as text; numbers (scores, ranks) are written as numbers, as the API
    renders them. Rows end in CRLF (RFC 4180), so a field holding a carriage return or a line
    feed is always quoted.
    """
    safe = frame.copy()
    for name in safe.columns:
        if pd.api.types.is_object_dtype(safe[name]) or pd.api.types.is_string_dtype(safe[name]):
            safe[name] = neutralize_formulas(safe[name])
    safe.to_csv(target, index=False, lineterminator="\r\n")


def neutralize_formulas(values: pd.Series) -> pd.Series:
    """`values` with a single quote before each text value that starts like a formula."""
    text = values.astype(object)
    risky = text.map(lambda value: isinstance(value, str) and value.startswith(FORMULA_STARTS))
    return text.where(~risky.astype(bool), "'" + text[risky].astype(str))
