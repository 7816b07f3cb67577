"""The served catalog's records as lists read them: ids, texts as readers see them, the
folded values list filters compare, the work and series each record belongs to, its subject
headings and its holdings.

Made from a bundle's catalog and holdings snapshots (`CatalogRecords.of`) and written into
the bundle with the model's lists (`arrays`, by `recsys.lists.served.served_lists`), so a
worker loading the run maps them (`from_arrays`) instead of reading the snapshots and cleaning
every title and author again: a load is then a few array reads, which matters while the worker
is answering requests. A bundle saved before carries only the snapshots, and its records are
made at load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.array_files import SUFFIX
from recsys.columns import SUBJECT_SEPARATOR
from recsys.columns import Columns as C
from recsys.display import clean_author, clean_title
from recsys.lists.series import SeriesIndex
from recsys.lists.text_column import BYTES, ENDS, TextColumn

#: The digest of the catalog's book ids, in order, that a bundle's lists were made for.
CATALOG_SHA256 = "catalog_ids_sha256"
#: Prefix of the records' arrays among a bundle's lists.
PREFIX = "catalog."
TEXT_COLUMNS = ("book_ids", "titles", "authors", "subjects", "subject_names", "libraries")
ARRAYS = (
    "works",
    "subject_ends",
    "subject_records",
    "series_records",
    "series_keys",
    "series_numbers",
    "holding_libraries",
    "holding_records",
    "holding_copies",
    "holding_free",
)
FOLDED_COLUMNS = {"audience": C.AUDIENCE, "format": C.FORMAT, "language": C.LANGUAGE}
#: Suffixes of a folded column's arrays: each record's code and the distinct values.
CODES, VALUES = ".codes", ".values"


def ids_sha256(ids: Iterable[object]) -> np.ndarray:
    """The SHA-256 of ids in their order, as bytes: what a list's rows were made for."""
    text = "\n".join(str(i) for i in ids).encode("utf-8")
    return np.frombuffer(hashlib.sha256(text).digest(), dtype=np.uint8)


def subject_headings(text: str | None) -> list[str]:
    """A record's subject headings as the subject index keys them: trimmed and case-folded."""
    parts = (text or "").split(SUBJECT_SEPARATOR.strip())
    return [part.strip().casefold() for part in parts if part.strip()]


def fold(value: str | None) -> str | None:
    """How list filters compare a value: trimmed and case-folded."""
    return None if value is None else value.strip().casefold()


@dataclass(frozen=True)
class CatalogRecords:
    """One entry per distinct book id, in the snapshot's order (its first row of an id)."""

    book_ids: TextColumn
    titles: TextColumn
    authors: TextColumn
    subjects: TextColumn
    #: each folded column as (code per record, distinct values); code -1: missing
    folded: dict[str, tuple[np.ndarray, TextColumn]]
    #: each record's work, numbered from 0 (a record without a work id is a work of its own)
    works: np.ndarray
    #: the folded subject headings, and the records of heading i:
    #: subject_records[subject_ends[i-1] : subject_ends[i]] (from 0 for the first)
    subject_names: TextColumn
    subject_ends: np.ndarray
    subject_records: np.ndarray
    #: the numbered series (`SeriesIndex`'s arrays)
    series_records: np.ndarray
    series_keys: np.ndarray
    series_numbers: np.ndarray
    #: the holdings' libraries, and a row per holding of a known record: its library (a
    #: position in `libraries`), record, copies and copies available (-1: unknown)
    libraries: TextColumn
    holding_libraries: np.ndarray
    holding_records: np.ndarray
    holding_copies: np.ndarray
    holding_free: np.ndarray

    @classmethod
    def of(cls, catalog: pd.DataFrame, holdings: pd.DataFrame) -> CatalogRecords:
        catalog = catalog.drop_duplicates(C.BOOK_ID, keep="first").reset_index(drop=True)
        book_ids = catalog[C.BOOK_ID].astype(str).tolist()
        work = catalog[C.WORK_ID] if C.WORK_ID in catalog else pd.Series(None, index=catalog.index)
        keys = [
            f"work:{w}" if _present(w) else f"book:{b}"
            for w, b in zip(work.tolist(), book_ids, strict=True)
        ]
        works, _ = pd.factorize(pd.Series(keys, dtype=object))
        subjects = _texts(catalog, C.SUBJECTS)
        names, ends, records = _subject_index(subjects)
        # as readers see them: the snapshot keeps the catalog's ISBD punctuation and life dates
        authors = TextColumn.of(clean_author(a) for a in _texts(catalog, C.AUTHOR))
        numbered = SeriesIndex.of(TextColumn.of(_texts(catalog, C.SERIES)), authors)
        libraries, held = _holding_rows(holdings, book_ids)
        return cls(
            book_ids=TextColumn.of(book_ids),
            titles=TextColumn.of(clean_title(t) for t in _texts(catalog, C.TITLE)),
            authors=authors,
            subjects=TextColumn.of(subjects),
            folded={name: _folded(catalog, column) for name, column in FOLDED_COLUMNS.items()},
            works=works.astype(np.int64),
            subject_names=names,
            subject_ends=ends,
            subject_records=records,
            series_records=numbered.records,
            series_keys=numbered.keys,
            series_numbers=numbered.numbers,
            libraries=libraries,
            **held,
        )

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> CatalogRecords | None:
        """The records a bundle's `arrays` carry, or None when it carries none (saved before)."""
        texts = {name: TextColumn.from_arrays(arrays, PREFIX + name) for name in TEXT_COLUMNS}
        folded = {}
        for name in FOLDED_COLUMNS:
            values = TextColumn.from_arrays(arrays, f"{PREFIX}{name}{VALUES}")
            codes = arrays.get(f"{PREFIX}{name}{CODES}")
            if values is None or codes is None:
                return None
            folded[name] = (codes, values)
        plain = {name: arrays.get(PREFIX + name) for name in ARRAYS}
        if any(v is None for v in [*texts.values(), *plain.values()]):
            return None
        return cls(**texts, **plain, folded=folded)  # type: ignore[arg-type]

    @staticmethod
    def saved_in(lists_dir: Path) -> bool:
        """Whether a bundle's lists folder carries the records (`from_arrays` finds them)."""
        return all((lists_dir / f"{name}{SUFFIX}").is_file() for name in _array_names())

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as named arrays, for a bundle (`from_arrays` reads them back)."""
        found = {PREFIX + name: getattr(self, name) for name in ARRAYS}
        for name in TEXT_COLUMNS:
            found |= getattr(self, name).arrays(PREFIX + name)
        for name, (codes, values) in self.folded.items():
            found[f"{PREFIX}{name}{CODES}"] = codes
            found |= values.arrays(f"{PREFIX}{name}{VALUES}")
        return found

    def __len__(self) -> int:
        return len(self.book_ids)

    def series_index(self) -> SeriesIndex:
        return SeriesIndex(self.series_records, self.series_keys, self.series_numbers)

    def subject_books(self) -> dict[str, np.ndarray]:
        """The records of each folded subject heading (views of `subject_records`)."""
        starts = np.r_[0, self.subject_ends][:-1].tolist()
        return {
            name or "": self.subject_records[start:end]
            for name, start, end in zip(
                self.subject_names.tolist(), starts, self.subject_ends.tolist(), strict=True
            )
        }

    def folded_values(self, name: str) -> np.ndarray:
        """Each record's folded value of column `name` ("" where missing), one string object
        per distinct value: a catalog has a few languages, audiences and formats, and a string
        per record would cost each worker tens of bytes per book."""
        codes, values = self.folded[name]
        return np.asarray([*(v or "" for v in values), ""], dtype=object)[codes]


def _array_names() -> Iterator[str]:
    """The names of the records' arrays among a bundle's lists."""
    for name in TEXT_COLUMNS:
        yield from (f"{PREFIX}{name}{suffix}" for suffix in (BYTES, ENDS))
    for name in FOLDED_COLUMNS:
        yield f"{PREFIX}{name}{CODES}"
        yield from (f"{PREFIX}{name}{VALUES}{suffix}" for suffix in (BYTES, ENDS))
    yield from (PREFIX + name for name in ARRAYS)


def _present(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and (str(value).strip() != "")
    )


def _texts(catalog: pd.DataFrame, column: str) -> list[str | None]:
    if column not in catalog:
        return [None] * len(catalog)
    # a snapshot holds text or None: the common case first (250,000 books at 10M loans)
    return [
        (v if v.strip() else None) if type(v) is str else (str(v) if _present(v) else None)
        for v in catalog[column].tolist()
    ]


def _holding_rows(
    holdings: pd.DataFrame, book_ids: list[str]
) -> tuple[TextColumn, dict[str, np.ndarray]]:
    """The holdings' libraries and the `holding_*` arrays of the holdings of known records."""
    if holdings.empty:
        empty = np.empty(0, dtype=np.int64)
        names = ("libraries", "records", "copies", "free")
        return TextColumn.of([]), {f"holding_{name}": empty for name in names}
    found = pd.Index(book_ids).get_indexer(pd.Index(holdings[C.BOOK_ID].astype(str)))
    keep = found >= 0
    held = holdings[C.LIBRARY_ID].astype(str).to_numpy(dtype=object)[keep]
    codes, libraries = pd.factorize(held)
    return TextColumn.of(libraries.tolist()), {
        "holding_libraries": codes.astype(np.int64),
        "holding_records": found[keep].astype(np.int64),
        "holding_copies": _counts(holdings, C.COPIES)[keep],
        "holding_free": _counts(holdings, C.AVAILABLE)[keep],
    }


def _counts(holdings: pd.DataFrame, column: str) -> np.ndarray:
    """A count column with missing values as -1 ("unknown": held, but not known available)."""
    if column not in holdings:
        return np.full(len(holdings), -1, dtype=np.int64)
    return pd.to_numeric(holdings[column], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)


def _subject_index(subjects: list[str | None]) -> tuple[TextColumn, np.ndarray, np.ndarray]:
    """The folded subject headings and, heading by heading, the records that carry them."""
    index: dict[str, list[int]] = {}
    for position, text in enumerate(subjects):
        for heading in subject_headings(text):
            index.setdefault(heading, []).append(position)
    records = [p for positions in index.values() for p in positions]
    ends = np.cumsum([len(positions) for positions in index.values()], dtype=np.int64)
    return TextColumn.of(index), ends, np.asarray(records, dtype=np.int64)


def _folded(catalog: pd.DataFrame, column: str) -> tuple[np.ndarray, TextColumn]:
    """Each record's code into the column's distinct folded values (-1: missing)."""
    if column not in catalog:
        return np.full(len(catalog), -1, dtype=np.int64), TextColumn.of([])
    codes, distinct = pd.factorize(catalog[column])  # missing values: code -1
    folded = [(fold(str(v)) or None) if _present(v) else None for v in distinct.tolist()]
    # values that fold alike ("English", "english ") become one
    merged, values = pd.factorize(pd.Series(folded, dtype=object))
    return np.r_[merged, -1][codes].astype(np.int64), TextColumn.of(values.tolist())
