"""Item-level loans find their record through the stored items export (``recsys ingest items``).

Koha's statistics, Evergreen's circulations and FOLIO's loan storage name the copy lent, not the
record; the library's items export, ingested as kind ``items``, says which record each copy
belongs to. Lookups go a chunk at a time, for the distinct copy ids of the chunk only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from recsys.db.tables import items

#: Below every supported SQLite's limit of bound parameters per statement.
LOOKUP_BATCH = 900


def stored_item_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(items)).scalar_one())


def books_of_copies(engine: Engine, copy_ids: pd.Series) -> pd.Series:
    """The record of each copy id (NaN where no stored item has that id)."""
    distinct = pd.unique(copy_ids.dropna().astype(str))
    found: dict[str, str] = {}
    with engine.connect() as connection:
        for start in range(0, len(distinct), LOOKUP_BATCH):
            batch = [str(value) for value in distinct[start : start + LOOKUP_BATCH]]
            query = select(items.c.copy_id, items.c.book_id).where(items.c.copy_id.in_(batch))
            found.update((str(copy), str(book)) for copy, book in connection.execute(query))
    books = copy_ids.astype(object).map(found)
    return books.where(books.notna(), np.nan).astype(object)
