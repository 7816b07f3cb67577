"""The served catalog: list filters, works and their records, series, holdings.

`CatalogIndex` is built once per served model from the catalog's records (`recsys.lists.records`),
which the bundle carries or its catalog and holdings snapshots give.
It answers eligibility masks (cached per filter combination), the records of works (editions,
duplicates) and which record of a work a list shows, so a request only copies a boolean array
and clears a few positions.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.lists.records import CATALOG_SHA256, CatalogRecords, fold, ids_sha256

MASK_CACHE_SIZE = 256
#: Catalog format of a book-club kit: several copies lent together.
KIT_FORMAT = "kit"


@dataclass(frozen=True)
class ListFilters:
    """What a caller may restrict a list to; `None` means "any"."""

    library: str | None = None
    available_only: bool = False
    audience: str | None = None
    format: str | None = None
    language: str | None = None
    exclude: tuple[str, ...] = ()

    @property
    def mask_key(self) -> tuple[str | bool | None, ...]:
        """The part of the filters that depends only on the catalog (cacheable)."""
        return (
            self.library,
            self.available_only,
            self.audience,
            fold(self.format),
            fold(self.language),
        )

    @property
    def restricts_catalog(self) -> bool:
        return any(v not in (None, False) for v in self.mask_key)


#: What `CatalogIndex.availability` tells of a listed book.
LOCAL = "local"
CONSORTIUM = "consortium"


class CatalogIndex:
    """Positions, attributes, editions and holdings of every book the service may list.

    In a `consortium` (`recsys.consortium`) the libraries of the holdings are members sharing
    their collections: a list for one member (``library``) may hold any member's titles, and
    the pipeline puts the member's own first (elsewhere ``library`` lists only its holdings).
    """

    def __init__(
        self, catalog: pd.DataFrame, holdings: pd.DataFrame, *, consortium: bool = False
    ) -> None:
        self._index(CatalogRecords.of(catalog, holdings), consortium)

    @classmethod
    def of_records(cls, records: CatalogRecords, *, consortium: bool = False) -> CatalogIndex:
        """The index of records made before (a bundle's, `CatalogRecords.from_arrays`)."""
        index = cls.__new__(cls)
        index._index(records, consortium)
        return index

    def _index(self, records: CatalogRecords, consortium: bool) -> None:
        self.records = records
        self.book_ids: np.ndarray = np.asarray(records.book_ids.tolist(), dtype=object)
        self.position: dict[str, int] = {b: i for i, b in enumerate(self.book_ids)}
        self.titles = records.titles
        self.authors = records.authors
        self.subjects = records.subjects
        #: the records of each folded subject heading
        self.subject_books = records.subject_books()
        self.series = records.series_index()
        self._audience = records.folded_values("audience")
        self._format = records.folded_values("format")
        self._language = records.folded_values("language")
        self.works = records.works
        # the editions of work w: _edition_order[_edition_start[w] : + _edition_count[w]]
        self._edition_order = np.argsort(self.works, kind="stable")
        self._edition_count = np.bincount(self.works)
        self._edition_start = np.r_[0, np.cumsum(self._edition_count)[:-1]].astype(np.int64)
        self._held, self._available, self._available_anywhere, self._copies = _holdings(records)
        self.libraries = frozenset(self._held)
        self.consortium = consortium
        self._held_anywhere = np.zeros(len(self.book_ids), dtype=bool)
        for held in self._held.values():
            self._held_anywhere |= held
        self._masks: OrderedDict[tuple[str | bool | None, ...], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.book_ids)

    @functools.cached_property
    def book_ids_sha256(self) -> np.ndarray:
        """What a bundle's lists record of the catalog they were made for."""
        return ids_sha256(self.book_ids)

    def made_for(self, lists: Mapping[str, np.ndarray]) -> bool:
        """Whether a bundle's `lists` were made for this catalog's records, in this order."""
        made = lists.get(CATALOG_SHA256)
        return made is not None and np.array_equal(made, self.book_ids_sha256)

    def __contains__(self, book_id: object) -> bool:
        return book_id in self.position

    def positions(self, book_ids: Iterable[str]) -> np.ndarray:
        """Positions of the known ids among `book_ids` (unknown ones are skipped)."""
        lookup = self.position
        found = [p for p in map(lookup.get, book_ids) if p is not None]
        return np.asarray(found, dtype=np.int64)

    def editions(self, book_ids: Iterable[str]) -> np.ndarray:
        """Positions of every record of every work among `book_ids`."""
        return self.records_of(self.positions(book_ids))

    def records_of(self, positions: np.ndarray) -> np.ndarray:
        """Positions of every record of the works at `positions` (editions, duplicates)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return positions
        works = self.works[positions]
        sizes = self._edition_count[works]
        if (sizes == 1).all():  # the usual case: no other record to add
            return positions
        # every position of each work's run in `_edition_order`, without a Python loop
        starts = np.repeat(self._edition_start[works] - np.cumsum(sizes) + sizes, sizes)
        return self._edition_order[starts + np.arange(int(sizes.sum()))]

    def lendable_to_group(self, copies: int, library: str | None = None) -> np.ndarray:
        """Mask of the records of which `library` (any one branch, without it) holds at least
        `copies` copies, or that are a book-club kit (catalog format ``kit``: one loan, a set
        of copies), so a whole group can borrow them."""
        branches = [library] if library is not None else list(self._copies)
        mask = np.zeros(len(self.book_ids), dtype=bool)
        for branch in branches:
            if branch not in self._copies:
                continue
            # one copy: any record the branch holds (a count may be unknown)
            mask |= self._held[branch] if copies <= 1 else self._copies[branch] >= copies
        return mask | (self._format == KIT_FORMAT)

    def held_at(self, library: str) -> np.ndarray:
        """Read-only mask of the records `library` holds (none for an unknown library)."""
        held = self._held.get(library)
        return held if held is not None else np.zeros(len(self.book_ids), dtype=bool)

    def availability(self, positions: np.ndarray, library: str | None) -> list[str | None]:
        """For each record at `positions`: `LOCAL` when the library the list is for holds it
        (the only library there is, when the list names none), `CONSORTIUM` when only other
        libraries hold it, None when no library does or the list names no one library of
        several."""
        if library is None:
            if len(self._held) != 1:
                return [None] * len(positions)
            library = next(iter(self._held))
        local = self.held_at(library)
        return [
            LOCAL if local[p] else CONSORTIUM if self._held_anywhere[p] else None
            for p in np.asarray(positions, dtype=np.int64).tolist()
        ]

    def language_of(self, positions: np.ndarray) -> list[str | None]:
        """The (case-folded) catalog language of each record at `positions`."""
        return [self._language[p] or None for p in np.asarray(positions).tolist()]

    def shown_records(
        self,
        positions: np.ndarray,
        eligible: np.ndarray,
        *,
        popularity: np.ndarray,
        library: str | None = None,
        language: str | None = None,
    ) -> np.ndarray:
        """For each candidate at `positions`, the record of its work a list shows, or -1 when
        no record of the work is `eligible`; a work already shown earlier in `positions` gets -1.

        Among a work's eligible records: one on the shelf at `library` (anywhere without one),
        then one held there, then one in `language` (the reader's usual one), then the most
        borrowed (`popularity`); a work with a single record shows it.
        """
        positions = np.asarray(positions, dtype=np.int64)
        works = self.works[positions]
        single = self._edition_count[works] == 1
        shown = np.where(eligible[positions], positions, -1)
        if single.all():
            return shown  # the usual case: nothing to choose
        taken: set[int] = set()
        for i, work in enumerate(works.tolist()):
            if work in taken:
                shown[i] = -1
                continue
            taken.add(work)
            if not single[i]:
                shown[i] = self._preferred(work, eligible, popularity, library, language)
        return shown

    def _preferred(
        self,
        work: int,
        eligible: np.ndarray,
        popularity: np.ndarray,
        library: str | None,
        language: str | None,
    ) -> int:
        start = self._edition_start[work]
        records = self._edition_order[start : start + self._edition_count[work]]
        records = records[eligible[records]]
        if len(records) == 0:
            return -1
        on_shelf = self._available.get(library) if library else self._available_anywhere
        held = self._held.get(library) if library else None
        keys = [
            (
                bool(on_shelf is not None and on_shelf[r]),
                bool(held is not None and held[r]),
                language is not None and self._language[r] == language,
                float(popularity[r]),
                -int(r),
            )
            for r in records.tolist()
        ]
        return int(records[max(range(len(keys)), key=keys.__getitem__)])

    def mask(self, filters: ListFilters) -> np.ndarray:
        """Read-only eligibility mask of the catalog-dependent filters (cached)."""
        key = filters.mask_key
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        mask = self._build_mask(filters)
        mask.flags.writeable = False
        with self._lock:
            self._masks[key] = mask
            if len(self._masks) > MASK_CACHE_SIZE:
                self._masks.popitem(last=False)
        return mask

    def eligible(self, filters: ListFilters) -> np.ndarray:
        """A fresh mask: the filters, minus every record of the works in `exclude`."""
        mask = self.mask(filters).copy()
        if filters.exclude:
            mask[self.editions(filters.exclude)] = False
        return mask

    def _build_mask(self, filters: ListFilters) -> np.ndarray:
        mask = np.ones(len(self.book_ids), dtype=bool)
        library, available_only, audience, format_, language = filters.mask_key
        if library is not None and not self.consortium:
            source = self._available if available_only else self._held
            mask &= source.get(str(library), np.zeros(len(mask), dtype=bool))
        elif library is not None:  # a member may list what any member holds
            mask &= self._available_anywhere if available_only else self._held_anywhere
        elif available_only:
            mask &= self._available_anywhere
        for values, wanted in (
            (self._audience, audience),
            (self._format, format_),
            (self._language, language),
        ):
            if wanted is not None:
                mask &= values == wanted
        return mask


def _holdings(
    records: CatalogRecords,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Per library: books held (copies > 0 or unknown), books with available > 0, and the
    number of copies (-1: unknown)."""
    n_books = len(records)
    held: dict[str, np.ndarray] = {}
    available: dict[str, np.ndarray] = {}
    copies_at: dict[str, np.ndarray] = {}
    anywhere = np.zeros(n_books, dtype=bool)
    books, copies, free = records.holding_records, records.holding_copies, records.holding_free
    for code, library in enumerate(records.libraries.tolist()):
        rows = records.holding_libraries == code
        held_mask = np.zeros(n_books, dtype=bool)
        held_mask[books[rows & (copies != 0)]] = True
        free_mask = np.zeros(n_books, dtype=bool)
        free_mask[books[rows & (free > 0)]] = True
        count = np.zeros(n_books, dtype=np.int64)
        count[books[rows]] = copies[rows]
        held[str(library)] = held_mask
        available[str(library)] = free_mask
        copies_at[str(library)] = count
        anywhere |= free_mask
    return held, available, anywhere, copies_at
