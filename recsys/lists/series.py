"""The numbered series of the served catalog: which records are the other volumes of a book's.

A record's series come from the catalog's ``series`` column ("name<TAB>number" lines: MARC
490/830 as `recsys.data.marc` reads them, or the stored evidence of such a catalog). One series
is one folded name by one author: two series of the same name by different authors (two
"Collected works") are never linked. Volume numbers order a series when they are numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.data.marc import SERIES_NUMBER_SEPARATOR, SERIES_SEPARATOR
from recsys.data.work_evidence import fold, part_key

#: A series: its folded name and its folded author ("" for none).
SeriesKey = tuple[str, str]


@dataclass(frozen=True)
class Volumes:
    """The other volumes of a book's series, as catalog positions: `following` holds the next
    volume (the smallest number after the book's, in every series of the book), `others` the
    rest: later volumes in order, then earlier ones, then those of no or the same number."""

    following: np.ndarray
    others: np.ndarray

    def __len__(self) -> int:
        return len(self.following) + len(self.others)


class SeriesIndex:
    """The members of every series, and each record's series with its volume number."""

    def __init__(self, series: list[str | None], authors: list[str | None]) -> None:
        self._members: dict[SeriesKey, list[tuple[float | None, int]]] = {}
        self._of: dict[int, list[tuple[SeriesKey, float | None]]] = {}
        for position, (text, author) in enumerate(zip(series, authors, strict=True)):
            if not text:
                continue
            for entry in dict.fromkeys(text.split(SERIES_SEPARATOR)):
                name, _, number = entry.partition(SERIES_NUMBER_SEPARATOR)
                if not fold(name):
                    continue
                key = (fold(name), fold(author))
                volume = _volume(number)
                self._members.setdefault(key, []).append((volume, position))
                self._of.setdefault(position, []).append((key, volume))

    def volumes(self, position: int) -> Volumes:
        """The other records of the series of the record at `position` (none without one)."""
        following: list[int] = []
        others: list[int] = []
        for key, own in self._of.get(position, []):
            members = [(v, p) for v, p in self._members[key] if p != position]
            numbered = sorted((v, p) for v, p in members if v is not None)
            if own is None:
                others += [p for _, p in members]
                continue
            later = [(v, p) for v, p in numbered if v > own]
            following += [p for v, p in later if v == later[0][0]]
            others += [p for v, p in later if v != later[0][0]]
            others += [p for v, p in numbered if v < own]
            others += [p for v, p in members if v is None or v == own]
        first = list(dict.fromkeys(following))
        rest = [p for p in dict.fromkeys(others) if p not in set(first)]
        return Volumes(np.asarray(first, dtype=np.int64), np.asarray(rest, dtype=np.int64))


def _volume(number: str) -> float | None:
    """The volume number that orders a series ("vol. 2" is 2), None when it is no number."""
    words = part_key(number).split()
    try:
        return float(words[0]) if words else None
    except ValueError:
        return None
