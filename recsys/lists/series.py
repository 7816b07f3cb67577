"""The numbered series of the served catalog: which records are the other volumes of a book's.

A record's series come from the catalog's ``series`` column ("name<TAB>number" lines: MARC
490/830 as `recsys.data.marc` reads them, or the stored evidence of such a catalog). One series
is one folded name by one author: two series of the same name by different authors (two
"Collected works") are never linked. Volume numbers order a series when they are numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.data.marc import SERIES_NUMBER_SEPARATOR, SERIES_SEPARATOR
from recsys.data.work_evidence import fold, part_key
from recsys.lists.text_column import TextColumn

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
    """The members of every series, and each record's series with its volume number.

    Held as three arrays with a row per (record, series) pair, ordered by record: the record,
    its series (`keys`, numbered from 0) and its volume number (`numbers`, NaN for none). A
    bundle carries them (`recsys.lists.records`), so a worker's load maps them.
    """

    def __init__(self, records: np.ndarray, keys: np.ndarray, numbers: np.ndarray) -> None:
        self.records, self.keys, self.numbers = records, keys, numbers
        self._by_series = np.argsort(keys, kind="stable")
        self._keys_sorted = keys[self._by_series]

    @classmethod
    def of(cls, series: TextColumn, authors: Sequence[str | None]) -> SeriesIndex:
        """The series named in the catalog's ``series`` texts (`recsys.data.marc`'s lines)."""
        keys: dict[SeriesKey, int] = {}
        rows: list[tuple[int, int, float]] = []
        for position, text in series.present():  # the records in a series only
            for entry in dict.fromkeys(text.split(SERIES_SEPARATOR)):
                name, _, number = entry.partition(SERIES_NUMBER_SEPARATOR)
                if not fold(name):
                    continue
                key = keys.setdefault((fold(name), fold(authors[position])), len(keys))
                volume = _volume(number)
                rows.append((position, key, np.nan if volume is None else volume))
        columns = list(zip(*rows, strict=True)) or [(), (), ()]
        return cls(
            np.asarray(columns[0], dtype=np.int64),
            np.asarray(columns[1], dtype=np.int64),
            np.asarray(columns[2], dtype=np.float64),
        )

    def volumes(self, position: int) -> Volumes:
        """The other records of the series of the record at `position` (none without one)."""
        following: list[int] = []
        others: list[int] = []
        rows = slice(*np.searchsorted(self.records, [position, position + 1]).tolist())
        for key, own in zip(self.keys[rows].tolist(), _numbers(self.numbers[rows]), strict=True):
            members = [(v, p) for v, p in self._members(key) if p != position]
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

    def _members(self, key: int) -> list[tuple[float | None, int]]:
        """(volume, record) of every record of series `key`, in catalog order."""
        rows = self._by_series[slice(*np.searchsorted(self._keys_sorted, [key, key + 1]).tolist())]
        return list(zip(_numbers(self.numbers[rows]), self.records[rows].tolist(), strict=True))


def _numbers(volumes: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in volumes.tolist()]  # NaN: no number


def _volume(number: str) -> float | None:
    """The volume number that orders a series ("vol. 2" is 2), None when it is no number."""
    words = part_key(number).split()
    try:
        return float(words[0]) if words else None
    except ValueError:
        return None
