"""Catalog text as readers see it: titles and authors without cataloguing punctuation.

Catalogs store titles and authors as MARC holds them ("Admirable : roman /", "Oury, Juliette
1989-...."), and the store keeps them so. Every list, the batch CSV and the notebooks show them
through these functions, so a title reads the same everywhere. Both are idempotent.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pandas as pd

from recsys.columns import Columns as C

#: ISBD punctuation that closes a MARC subfield: "Title :", "Title /", "Name,", "Title ;".
_TRAILING_PUNCTUATION = re.compile(r"[\s/:;,=]+$")
_SPACES = re.compile(r"\s+")
#: A name or title may end in an initial ("Tolkien, J. R. R.") or an ellipsis, whose final
#: period belongs to it; any other final period is the record's closing punctuation.
_KEPT_PERIOD = re.compile(r"(?:(?:^|[\s.(])[^\W\d_]\.|\.\.\.)$")
# Life dates as catalogs write them: 1947, 19.., 0046?, "ca. 427", "427 av. J.-C", open "...."
_YEAR = r"\d[\d.?]{0,4}(?:\s*(?:av\.?\s*J\.?-?C\.?|B\.?C\.?|v\.\s*Chr\.?))?"
_APPROXIMATE = r"(?:(?:ca|c|b|d|n|fl)\.\s*)"
_SPAN = (
    rf"{_APPROXIMATE}?{_YEAR}\s*-\s*(?:{_APPROXIMATE}?{_YEAR}|\.{{2,}}|…)?"
    rf"|-\s*{_APPROXIMATE}?{_YEAR}|{_APPROXIMATE}{_YEAR}"
)
#: A bare year closes a name only after a comma ("Marieb, Elaine N., 1936", not "Expo 2000").
#: Life dates closing a name, with a fuller form of the name after them: ", 1947-",
#: " 1989-....", "1892-1973.", "(1901-1978)", "-1872", "ca. 1500-1560", "b. 1950",
#: "1892-1973 (John Ronald Reuel)". A bare number ("Expo 2000") is not a date.
_LIFE_DATES = re.compile(
    rf"(?:[\s,]*\(?(?:{_SPAN})\s*\)?\.?(?:\s*\([^()]*\))?|\s*,\s*\d{{3,4}})\s*$"
)
_DIGIT = re.compile(r"\d")
#: How far before its first digit a date may start: ", ca. (" is the longest lead.
_DATE_LEAD = 8
#: Invisible format characters (right-to-left marks and the like) some exports carry.
_FORMAT_CHARACTERS = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
AUTHOR_SEPARATOR = ";"


def clean_title(value: object) -> str | None:
    """A title (with its subtitle) for display: no closing ISBD punctuation, single spaces.

    The subtitle separator inside stays ("Admirable : L'histoire ... : roman"); None for a
    missing or blank title.
    """
    text = _text(value)
    return (_closed(text) or None) if text is not None else None


def clean_author(value: object) -> str | None:
    """An author for display: no life dates, no closing punctuation ("Oury, Juliette").

    Several authors separated by ";" are cleaned one by one; None for a missing or blank one.
    """
    text = _text(value)
    return _clean_names(text) if text is not None else None


@lru_cache(maxsize=1 << 16)  # a catalog names the same authors again and again
def _clean_names(text: str) -> str | None:
    names = [_without_dates(_closed(name)) for name in text.split(AUTHOR_SEPARATOR)]
    kept = [name for name in names if name]
    return f"{AUTHOR_SEPARATOR} ".join(kept) or None


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its ``title`` and ``author`` columns (those it has) as readers see them."""
    cleaners = {C.TITLE: clean_title, C.AUTHOR: clean_author}
    return frame.assign(
        **{name: frame[name].map(clean) for name, clean in cleaners.items() if name in frame}
    )


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = _SPACES.sub(" ", _FORMAT_CHARACTERS.sub("", str(value))).strip()
    return text or None


def _without_dates(name: str) -> str:
    """`name` without the life dates closing it, however many ("X, 1950, 1960-")."""
    # dates start a few characters before their first digit ("ca. 1500", "-1872", "(1901"):
    # searching from there spares the pattern a try at every character of the name
    while (digit := _DIGIT.search(name)) is not None:
        dates = _LIFE_DATES.search(name, max(0, digit.start() - _DATE_LEAD))
        if dates is None:
            break
        name = _closed(name[: dates.start()])
    return name


def _closed(text: str) -> str:
    """`text` without the punctuation that closed its MARC subfield."""
    text = _TRAILING_PUNCTUATION.sub("", text.strip())
    if text.endswith(".") and not _KEPT_PERIOD.search(text):
        text = _TRAILING_PUNCTUATION.sub("", text[:-1])
    return text
