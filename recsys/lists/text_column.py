"""A column of texts as two plain arrays: UTF-8 bytes and where each text ends.

The served catalog's titles, authors and subjects are written once per model into the bundle
this way (`recsys.lists.records`), so every worker maps the same pages instead of building a
Python string per record at each load: a list decodes only the dozen texts it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

#: Suffixes of a column's two arrays in a bundle's arrays.
BYTES, ENDS = ".bytes", ".ends"


class TextColumn(Sequence[str | None]):
    """Texts by position, None where missing; read-only."""

    def __init__(self, data: np.ndarray, ends: np.ndarray) -> None:
        # text i is data[|ends[i-1]| : |ends[i]|]; a negative end marks a missing text
        self._data = np.ascontiguousarray(data, dtype=np.uint8).data.toreadonly()
        self._ends = np.asarray(ends, dtype=np.int64)
        self._bounds = np.abs(self._ends)

    @classmethod
    def of(cls, texts: Iterable[str | None]) -> TextColumn:
        encoded = [None if t is None else t.encode("utf-8") for t in texts]
        lengths = np.fromiter((len(e or b"") for e in encoded), np.int64, count=len(encoded))
        # the texts start after one byte, so that no end is 0, whose sign could not mark it
        ends = np.cumsum(lengths) + 1
        missing = np.fromiter((e is None for e in encoded), bool, count=len(encoded))
        ends[missing] *= -1
        data = np.frombuffer(b"".join(e for e in encoded if e), dtype=np.uint8)
        return cls(np.r_[np.uint8(0), data], ends)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], name: str) -> TextColumn | None:
        """The column `name` among a bundle's `arrays`, or None when they do not hold it."""
        if f"{name}{BYTES}" not in arrays or f"{name}{ENDS}" not in arrays:
            return None
        return cls(arrays[f"{name}{BYTES}"], arrays[f"{name}{ENDS}"])

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The two arrays that store the column as `name` (`from_arrays` reads them back)."""
        return {f"{name}{BYTES}": np.asarray(self._data), f"{name}{ENDS}": self._ends}

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, position: int) -> str | None: ...

    @overload
    def __getitem__(self, position: slice) -> list[str | None]: ...

    def __getitem__(self, position: int | slice) -> str | list[str | None] | None:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        end = int(self._ends[position])
        if end < 0:
            return None
        start = int(self._bounds[position - 1]) if position % len(self) else 1
        return str(self._data[start:end], "utf-8")

    def __iter__(self) -> Iterator[str | None]:
        return iter(self.tolist())

    def tolist(self) -> list[str | None]:
        """Every text at once: one decode of the whole buffer when it is ASCII (ids are)."""
        whole = str(self._data, "utf-8")
        if len(whole) != len(self._data):  # not ASCII: byte offsets are not string offsets
            return [self[i] for i in range(len(self))]
        starts = np.r_[1, self._bounds][:-1].tolist()
        return [
            whole[start:end] if end > 0 else None
            for start, end in zip(starts, self._ends.tolist(), strict=True)
        ]

    def present(self) -> Iterator[tuple[int, str]]:
        """(position, text) of every text that is not missing, in order."""
        for position in np.flatnonzero(self._ends > 0).tolist():
            text = self[position]
            assert text is not None
            yield position, text
