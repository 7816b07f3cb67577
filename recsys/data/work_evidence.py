"""What a catalog record says about its work: the evidence `recsys.data.works` groups by.

Each record gives matching forms (case, diacritics and ISBD punctuation folded) of its title with
its part (245 $a $b $n $p, non-filing characters skipped), of its main title (before the
subtitle), of its uniform title (240) and of its main author (100/110/111 without life dates);
its numbered series (490/830 $v); and its identifiers: ISBN-13s (020, or the CSV ``isbn``
column), control numbers (001, 003+001, 035) and those of its other editions (776, marked). A
CSV catalog gives title, author and ISBN only. Table book_works stores this evidence as text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.data.marc import SERIES_NUMBER_SEPARATOR, SERIES_SEPARATOR
from recsys.display import clean_author

#: The evidence of each record, as `record_evidence` returns it and table book_works stores it.
EVIDENCE_COLUMNS = (
    C.BOOK_ID,
    C.TITLE_KEY,
    C.MAIN_TITLE_KEY,
    C.UNIFORM_TITLE_KEY,
    C.AUTHOR_KEY,
    C.SERIES_KEY,
    C.IDENTIFIERS,
)
#: The fields `recsys.data.marc` adds to a catalog row for grouping (CSV rows have none).
MARC_FIELDS = (
    C.FILING_TITLE,
    C.TITLE_PART,
    C.UNIFORM_TITLE,
    C.SERIES,
    C.ISBNS,
    C.RECORD_IDS,
    C.OTHER_EDITIONS,
)

_PART_SEPARATOR = " # "
_LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th"})
_NON_WORD = re.compile(r"[\W_]+")
#: Combining marks (the diacritics NFKD splits off letters), in every block Unicode has them.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
#: Words that only announce a number: "Tome 2", "vol. 2" and "2" are the same part.
_DESIGNATORS = frozenset(
    "t tome tomes vol vols volume volumes band bd bde teil tl partie part parts livre book "  # noqa: SIM905 (reads better as text)
    "heft no nr n numero number fasc fascicule cahier tomo libro parte".split()
)
_ISBN_TOKENS = re.compile(r"[\s;,|]+")
_ISBN10 = re.compile(r"\d{9}[\dX]")
_ISBN13 = re.compile(r"97[89]\d{10}")
_ISBN13_WEIGHTS = (1, 3) * 6 + (1,)
#: ISBD marks that end a main title: " : " before a subtitle, " / " before the authors, " = "
#: before a parallel title, " [" before a cataloguer's addition.
_MAIN_TITLE_END = re.compile(r"\s[:/=](?:\s|$)|\s\[")
_ISBN_PREFIX = "isbn:"
_RECORD_PREFIX = "ctrl:"
#: Marks an identifier a record names as another edition's (776), not as its own.
_OTHER_EDITION_MARK = ">"


def fold(text: object) -> str:
    """A matching form of `text`: case, diacritics and punctuation folded, single spaces."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return _fold(str(text))


@lru_cache(maxsize=1 << 16)
def _fold(text: str) -> str:
    plain = _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return _NON_WORD.sub(" ", plain.translate(_LETTERS)).strip()


def author_key(author: object) -> str:
    """The matching form of a main author: life dates dropped ("Oury, Juliette 1989-....")."""
    return fold(clean_author(author))


def part_key(part: object) -> str:
    """The matching form of a part (245 $n $p): "Tome 2", "vol. 2" and "2" all give "2"."""
    return " ".join(word for word in fold(part).split() if word not in _DESIGNATORS)


def title_key(title: object, part: object = None) -> str:
    """The matching form of a title with its part ("" without a title)."""
    return title_key_of(fold(title), part_key(part))


def isbn13(token: str) -> str | None:
    """The ISBN-13 of an ISBN-10 or ISBN-13 (hyphens allowed) whose check digit is right."""
    digits = token.replace("-", "").replace(" ", "").upper()
    if len(digits) == 10 and _ISBN10.fullmatch(digits):
        values = [10 if c == "X" else int(c) for c in digits]
        if sum(w * v for w, v in zip(range(10, 0, -1), values, strict=True)) % 11:
            return None
        digits = "978" + digits[:9]
        return digits + str(-_isbn13_sum(digits[:12]) % 10)
    if len(digits) == 13 and _ISBN13.fullmatch(digits):
        return digits if _isbn13_sum(digits) % 10 == 0 else None
    return None


def _isbn13_sum(digits: str) -> int:
    return sum(int(c) * w for c, w in zip(digits, _ISBN13_WEIGHTS, strict=False))


def record_evidence(rows: pd.DataFrame) -> pd.DataFrame:
    """The evidence of each catalog row (`EVIDENCE_COLUMNS`), in the rows' order.

    Reads ``book_id, title, author, isbn`` (what a CSV catalog gives) and, when present, the MARC
    fields `recsys.data.marc` adds (filing title, part, uniform title, series, every ISBN,
    record links).
    """

    def column(name: str) -> list[object]:
        return rows[name].tolist() if name in rows else [None] * len(rows)

    filing, titles = column(C.FILING_TITLE), column(C.TITLE)
    titles = [f if present(f) else t for f, t in zip(filing, titles, strict=True)]
    parts = column(C.TITLE_PART)
    isbns = [m if present(m) else i for m, i in zip(column(C.ISBNS), column(C.ISBN), strict=True)]
    return pd.DataFrame(
        {
            C.BOOK_ID: rows[C.BOOK_ID].astype(str).to_numpy(),
            C.TITLE_KEY: [title_key(t, p) for t, p in zip(titles, parts, strict=True)],
            C.MAIN_TITLE_KEY: [fold(_main_title(t)) or None for t in titles],
            C.UNIFORM_TITLE_KEY: [
                title_key(u, p) or None for u, p in zip(column(C.UNIFORM_TITLE), parts, strict=True)
            ],
            C.AUTHOR_KEY: [author_key(a) or None for a in column(C.AUTHOR)],
            C.SERIES_KEY: [_series_key(s) for s in column(C.SERIES)],
            C.IDENTIFIERS: [
                _identifiers(i, r, o)
                for i, r, o in zip(
                    isbns, column(C.RECORD_IDS), column(C.OTHER_EDITIONS), strict=True
                )
            ],
        }
    )


def _main_title(title: object) -> str:
    """The title before its subtitle, statement of responsibility or parallel title."""
    return _MAIN_TITLE_END.split(str(title), maxsplit=1)[0] if present(title) else ""


def present(value: object) -> bool:
    """Whether `value` holds text (not None, NaN or blank)."""
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and bool(str(value).strip())
    )


def _series_key(series: object) -> str | None:
    """Numbered series as sorted "series=number" lines."""
    if not present(series):
        return None
    pairs = set()
    for entry in str(series).split(SERIES_SEPARATOR):
        name, _, number = entry.partition(SERIES_NUMBER_SEPARATOR)
        if fold(name) and part_key(number):
            pairs.add(f"{fold(name)}={part_key(number)}")
    return SERIES_SEPARATOR.join(sorted(pairs)) or None


def _identifiers(isbns: object, record_ids: object, other_editions: object) -> str | None:
    """The record's ISBN-13s and control numbers, and those of its other editions (marked),
    as sorted space-separated tokens."""
    tokens = {token for token in _tokens(isbns, isbn_only=True)}
    tokens.update(_tokens(record_ids, isbn_only=False))
    tokens.update(_OTHER_EDITION_MARK + token for token in _tokens(other_editions, isbn_only=False))
    return " ".join(sorted(tokens)) or None


def _tokens(text: object, *, isbn_only: bool) -> Iterator[str]:
    """ISBN tokens of `text` ("isbn:978..."), and unless `isbn_only` its other values as control
    numbers ("ctrl:(ocolc)123")."""
    if not present(text):
        return
    for value in _ISBN_TOKENS.split(str(text)):
        isbn = isbn13(value)
        if isbn is not None:
            if len(set(isbn[3:12])) > 1:  # not a placeholder such as 0000000000
                yield _ISBN_PREFIX + isbn
        elif value and not isbn_only:
            yield _RECORD_PREFIX + value.casefold()


def part_key_of(title: str) -> str:
    """The part a title key carries ("" for none)."""
    return title.partition(_PART_SEPARATOR)[2]


def title_key_of(title: str, part: str) -> str:
    """A title key from a folded title and part key."""
    return f"{title}{_PART_SEPARATOR}{part}" if title and part else title


def series_marks(series: object) -> dict[str, str]:
    """Series name -> number, from a stored ``series_key``."""
    if not present(series):
        return {}
    pairs = (line.partition("=") for line in str(series).split(SERIES_SEPARATOR))
    return {name: number for name, _, number in pairs if name and number}


def series_statements(series: object) -> str | None:
    """A stored ``series_key`` in the catalog's ``series`` form ("name<TAB>number" lines, the
    names folded), or None."""
    marks = series_marks(series)
    lines = (f"{name}{SERIES_NUMBER_SEPARATOR}{number}" for name, number in marks.items())
    return SERIES_SEPARATOR.join(lines) or None


def identifier_tokens(identifiers: object) -> Iterator[tuple[str, bool]]:
    """Each identifier of a stored ``identifiers`` value, with whether the record names it as
    another edition's (776) rather than its own."""
    if present(identifiers):
        for token in str(identifiers).split():
            yield token.removeprefix(_OTHER_EDITION_MARK), token.startswith(_OTHER_EDITION_MARK)


def is_isbn(token: str) -> bool:
    return token.startswith(_ISBN_PREFIX)


def own_isbns(identifiers: object) -> set[str]:
    """The ISBN-13s a stored ``identifiers`` value gives as the record's own."""
    return {
        token.removeprefix(_ISBN_PREFIX)
        for token, named in identifier_tokens(identifiers)
        if is_isbn(token) and not named
    }
