"""Catalog records from MARC21 (binary ``.mrc`` and MARCXML), as canonical catalog fields.

Mapping: book_id 001; title 245 $a $b; author 100 $a (person) or 110 $a $b (body); subjects 650 $a
joined by "; "; ISBN 020 $a; year 008/07-10; audience 008/22; language 008/35-37; format from the
leader's type of record. A record pymarc cannot decode becomes a row with reason ``bad_record``.
The id may come from another field than 001 (`IdField`: Koha keeps it in 999 $c).
"""

from __future__ import annotations

import re
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymarc

from recsys.columns import SUBJECT_SEPARATOR, Audiences
from recsys.columns import Columns as C
from recsys.exceptions import InputFormatError

#: Set on rows the reader already knows to be bad; validation quarantines them with this reason.
PRESET_REASON = "preset_reason"
BAD_RECORD = "bad_record"

# MARC 008/22 "target audience" codes (books).
AUDIENCE_CODES = {
    "a": Audiences.CHILDREN,  # preschool
    "b": Audiences.CHILDREN,  # primary
    "c": Audiences.CHILDREN,  # pre-adolescent
    "j": Audiences.CHILDREN,  # juvenile
    "d": Audiences.YOUNG_ADULT,  # adolescent
    "e": Audiences.ADULT,
    "f": Audiences.ADULT,  # specialized
    "g": Audiences.ADULT,  # general
}
# Leader/06 "type of record".
FORMAT_CODES = {
    "a": "book",
    "t": "book",
    "i": "audiobook",
    "j": "music",
    "g": "video",
    "m": "electronic",
    "e": "map",
    "f": "map",
    "c": "score",
    "d": "score",
    "k": "image",
    "r": "object",
    "o": "kit",
    "p": "mixed",
}
_TRAILING_PUNCTUATION = re.compile(r"[\s/:;,.=]+$")
_ID_FIELD = re.compile(r"(?P<tag>00\d)|(?P<data>(?!00)\d{3})(?P<code>[a-z0-9])")
DEFAULT_ID = "001"


@dataclass(frozen=True)
class IdField:
    """Where a record keeps its id: a control field (``001``) or a tag and subfield (``999c``).

    Systems differ: Koha keeps the biblionumber in 999 $c (001 may hold a vendor's number),
    Evergreen the record id in 901 $c, FOLIO the instance UUID in 999 $i, Alma the MMS ID in 001.
    """

    tag: str
    code: str | None = None

    def value(self, record: pymarc.Record) -> str | None:
        """The id of `record`: the first non-empty occurrence of the field (None if absent)."""
        if self.code is None:
            return _control(record, self.tag)
        for field in record.get_fields(self.tag):
            for value in field.get_subfields(self.code):
                if value.strip():
                    return value.strip()
        return None


def parse_id_field(text: str, *, option: str = "--id-field") -> IdField:
    """``001`` or ``999c`` as an `IdField`; anything else is refused naming the option."""
    match = _ID_FIELD.fullmatch(text.strip().replace("$", ""))
    if match is None:
        raise InputFormatError(
            f"{option} must be a MARC control field (e.g. 001) or a tag and subfield code "
            f"(e.g. 999c for Koha's biblionumber); got {text!r}"
        )
    if match["tag"]:
        return IdField(match["tag"])
    return IdField(match["data"], match["code"])


_INITIAL = re.compile(r"(^|[\s.])[A-Z]\.$")


def is_binary_marc(sample: bytes) -> bool:
    """Whether `sample` starts like a MARC21 binary record (5-digit length, "4500" entry map)."""
    return len(sample) >= 24 and sample[:5].isdigit() and sample[20:24] == b"4500"


def read_marc(
    path: Path, *, id_field: IdField = IdField(DEFAULT_ID)
) -> Iterator[dict[str, str | None]]:
    """Catalog rows of a binary MARC21 or MARCXML file, one per record, ids from `id_field`."""
    with Path(path).open("rb") as handle:
        start = handle.read(64).lstrip()
    if start.startswith(b"<"):
        yield from _read_xml(path, id_field)
        return
    with Path(path).open("rb") as handle:
        reader = pymarc.MARCReader(
            handle, to_unicode=True, force_utf8=True, utf8_handling="replace", permissive=True
        )
        for record in reader:
            if record is None:
                yield {PRESET_REASON: BAD_RECORD}
            else:
                yield record_to_row(record, id_field=id_field)


def _read_xml(path: Path, id_field: IdField) -> Iterator[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = []
    try:
        pymarc.map_xml(
            lambda record: rows.append(record_to_row(record, id_field=id_field)), str(path)
        )
    except xml.sax.SAXParseException as error:
        raise InputFormatError(f"{Path(path).name}: not valid MARCXML ({error})") from None
    yield from rows


def record_to_row(
    record: pymarc.Record, *, id_field: IdField = IdField(DEFAULT_ID)
) -> dict[str, str | None]:
    """The canonical catalog fields of one MARC record (missing ones are None)."""
    fixed = _control(record, "008") or ""
    leader = str(record.leader or "")
    year = fixed[7:11]
    language = fixed[35:38].strip(" |") if len(fixed) >= 38 else ""
    return {
        C.BOOK_ID: id_field.value(record),
        C.TITLE: _joined(record, "245", "a", "b"),
        C.AUTHOR: _name(_joined(record, "100", "a", tidy=False))
        or _joined(record, "110", "a", "b"),
        C.SUBJECTS: SUBJECT_SEPARATOR.join(
            subject
            for field in record.get_fields("650")
            for subject in (_tidy(value) for value in field.get_subfields("a"))
            if subject
        )
        or None,
        C.ISBN: _isbn(record),
        C.LANGUAGE: language or None,
        C.AUDIENCE: AUDIENCE_CODES.get(fixed[22:23]) if len(fixed) > 22 else None,
        C.YEAR: year if year.isdigit() else None,
        C.FORMAT: FORMAT_CODES.get(leader[6:7]) if len(leader) > 6 else None,
    }


def _control(record: pymarc.Record, tag: str) -> str | None:
    fields = record.get_fields(tag)
    data = (fields[0].data or "").strip() if fields else ""
    return data or None


def _joined(record: pymarc.Record, tag: str, *codes: str, tidy: bool = True) -> str | None:
    fields = record.get_fields(tag)
    if not fields:
        return None
    values = fields[0].get_subfields(*codes)
    text = " ".join(_tidy(value) if tidy else value.strip() for value in values)
    text = _tidy(text) if tidy else text
    return text or None


def _name(value: str | None) -> str | None:
    """A personal name without its trailing comma, keeping the period of an initial ("R.")."""
    if value is None:
        return None
    value = value.rstrip(" ,")
    if value.endswith(".") and not _INITIAL.search(value):
        value = value[:-1]
    return value or None


def _tidy(value: str) -> str:
    """Strip the ISBD punctuation MARC puts between subfields ("Title :", "Author,")."""
    return _TRAILING_PUNCTUATION.sub("", value.strip())


def _isbn(record: pymarc.Record) -> str | None:
    for field in record.get_fields("020"):
        for value in field.get_subfields("a"):
            token = value.strip().split(" ")[0]
            if token:
                return token
    return None
