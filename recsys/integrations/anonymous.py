"""The anonymous-patron trap: an ILS files every anonymized loan under one reader id.

Koha's AnonymousPatron and Alma's ``-1`` collect the loans of every reader whose history was
anonymized; stored as they are, they make one giant reader who "borrowed" a large part of the
collection. The ids named in ``RECSYS_ANONYMOUS_READER_IDS`` (plus the preset's known
defaults) are set aside at ingest, counted and never stored. As a safety net, a loans file in
which one reader id holds more than ``RECSYS_MAX_READER_SHARE`` of the events is refused whole:
stored in part, the same file would later be skipped as already ingested, so refusing it lets
the operator name the id and drop the same file again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.readers import LINE_NUMBER
from recsys.exceptions import InputFormatError
from recsys.integrations.presets import Preset

#: How set-aside anonymized loans are counted in an ingest's summary.
ANONYMIZED = "anonymized"
#: Files with fewer loan events are not judged: in a small day's file one family card may
#: honestly hold most of the loans.
MIN_EVENTS_FOR_SHARE = 100


def anonymous_ids(settings: Settings, preset: Preset | None) -> frozenset[str]:
    """The configured anonymous reader ids and the preset's known defaults."""
    return settings.anonymous_ids | frozenset(preset.anonymous_ids if preset else ())


def is_anonymous(readers: pd.Series, ids: frozenset[str], *, blank: bool) -> pd.Series:
    """Rows filed under an anonymous id (or, where the system blanks them, with no reader)."""
    codes, distinct = _distinct_ids(readers)
    # the last entry answers for rows without an id (code -1)
    anonymous = np.array([reader in ids or (blank and not reader) for reader in distinct] + [blank])
    return pd.Series(anonymous[codes], index=readers.index)


def _distinct_ids(readers: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's code among the distinct ids (-1 for a missing one), and those ids stripped:
    stripping the few distinct ids, not every row, keeps this cheap on big chunks."""
    codes, uniques = pd.factorize(readers)
    return codes, [str(reader).strip() for reader in np.asarray(uniques, dtype=object)]


class ReaderShareGuard:
    """Counts a file's loan events per reader id and refuses an implausibly big reader."""

    def __init__(self, *, file_name: str, max_share: float) -> None:
        self._file_name = file_name
        self._max_share = max_share
        self._counts: Counter[str] = Counter()
        self._first_line: dict[str, int] = {}

    def watch(self, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Pass `chunks` through; after the last one, raise if one reader holds too much."""
        for chunk in chunks:
            self._count(chunk)
            yield chunk
        self._check()

    def _count(self, chunk: pd.DataFrame) -> None:
        codes, distinct = _distinct_ids(chunk[C.READER_ID])
        rows = np.flatnonzero(codes >= 0)
        counts = np.bincount(codes[rows], minlength=len(distinct))
        # factorize numbers ids in order of appearance: an id first appears where the codes
        # seen so far reach a new maximum
        seen = np.maximum.accumulate(codes[rows])
        first_rows = rows[np.r_[True, seen[1:] > seen[:-1]]] if len(rows) else rows
        lines = chunk[LINE_NUMBER].to_numpy()[first_rows]
        for reader, count, line in zip(distinct, counts, lines, strict=True):
            if reader:
                self._counts[reader] += int(count)
                self._first_line.setdefault(reader, int(line))

    def _check(self) -> None:
        total = sum(self._counts.values())
        if total < MIN_EVENTS_FOR_SHARE:
            return
        reader, count = self._counts.most_common(1)[0]
        share = count / total
        if share <= self._max_share:
            return
        raise InputFormatError(
            f"{self._file_name}: one reader id holds {count} of the file's {total} loan events "
            f"({share:.0%} > RECSYS_MAX_READER_SHARE {self._max_share:.0%}), first at line "
            f"{self._first_line[reader]}. An ILS files anonymized loans under one patron "
            "(Koha's AnonymousPatron, Alma's -1): name that id in RECSYS_ANONYMOUS_READER_IDS, "
            "or raise RECSYS_MAX_READER_SHARE if one card really borrowed this much. Nothing of "
            "the file was stored"
        )
