"""The one renderer of lists: JSON bodies for the service, rows for the batch CSV.

Every answer of a list route is rendered here, whether the front door or a route answers, so the
bytes are the same whoever made them; the batch CSV takes the same items.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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
    for rank, (p, s, reason) in enumerate(
        zip(ranked.positions.tolist(), ranked.scores.tolist(), ranked.reasons, strict=True),
        start=1,
    ):
        yield {
            "book_id": str(book_ids[p]),
            "title": titles[p],
            "author": authors[p],
            "score": round(s, SCORE_DECIMALS) if math.isfinite(s) else 0.0,
            "rank": rank,
            "reason": reason or None,
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
