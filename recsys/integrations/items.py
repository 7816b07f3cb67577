"""Item-level loans find their record through the stored items export (``recsys ingest items``).

Koha's statistics, Evergreen's circulations and FOLIO's loan storage name the copy lent, not the
record; the library's items export, ingested as kind ``items``, says which record each copy
belongs to. Lookups go a chunk at a time, for the distinct copy ids of the chunk only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from recsys.db.items import records_of_copies


class CopyRecords:
    """The record of each copy id, looked up in the stored items once per copy and file."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: copy id -> record, or None for a copy no stored item has
        self._known: dict[str, str | None] = {}

    def books(self, copy_ids: pd.Series) -> pd.Series:
        """The record of each copy id (NaN where no stored item has that id)."""
        distinct = pd.unique(copy_ids.dropna().astype(str))
        new = [copy for copy in distinct if copy not in self._known]
        self._known.update(dict.fromkeys(new))
        self._known.update(records_of_copies(self._engine, new))
        books = copy_ids.astype(str).map(self._known)
        return books.where(copy_ids.notna() & books.notna(), np.nan).astype(object)
