"""Catalog records from MARC21 (binary ``.mrc`` and MARCXML), as canonical catalog fields.

Mapping: book_id 001; title 245 $a $b and author 100 $a $d (person), 110 $a $b (body) or 111 $a
(meeting), kept as the record holds them, ISBD punctuation included (`recsys.display` cleans them
for readers); subjects 650 $a joined by "; "; ISBN 020 $a; year 008/07-10; audience 008/22;
language 008/35-37; format from the leader's type of record. A record pymarc cannot decode becomes
a row with reason ``bad_record``.

Each row also carries what grouping records into works needs (`recsys.data.works`): the title
without its non-filing characters (245 second indicator), the part (245 $n $p), the uniform title
(240 $a $k), numbered series (490 and 830 $a with $v), every ISBN (020 $a, except one qualified as
a set's), the record's own control numbers (001, 003+001, 035 $a) and its other editions (776 $z
ISBNs and $w control numbers).
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
#: A qualifier saying an 020 ISBN is the whole set's: it would tie every volume together.
_SET_ISBN = re.compile(
    r"\b(?:set|s[ée]rie|ensemble|coffret|gesamtwerk|gesamtausgabe|obra completa)\b", re.I
)
#: How `series` and the identifier fields of a row are joined (see `recsys.data.works`).
SERIES_NUMBER_SEPARATOR = "\t"
SERIES_SEPARATOR = "\n"
IDENTIFIER_SEPARATOR = "; "


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
        C.TITLE: _joined(record, "245", "a", "b", tidy=False),
        C.AUTHOR: _joined(record, "100", "a", "d", tidy=False)
        or _joined(record, "110", "a", "b", tidy=False)
        or _joined(record, "111", "a", tidy=False),
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
        **_work_fields(record),
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


def _work_fields(record: pymarc.Record) -> dict[str, str | None]:
    """The fields grouping records into works reads, as the record holds them."""
    return {
        C.FILING_TITLE: _filing(record, "245", "a", "b"),
        C.TITLE_PART: _joined(record, "245", "n", "p", tidy=False),
        C.UNIFORM_TITLE: _filing(record, "240", "a", "k"),
        C.SERIES: _series(record),
        C.ISBNS: _all_isbns(record),
        C.RECORD_IDS: _record_ids(record),
        C.OTHER_EDITIONS: _joined_values(record, "776", "z", "w"),
    }


def _filing(record: pymarc.Record, tag: str, *codes: str) -> str | None:
    """The first `tag` field's subfields without the non-filing characters its second
    indicator counts ("The ", "L'")."""
    fields = record.get_fields(tag)
    if not fields:
        return None
    field = fields[0]
    text = " ".join(value.strip() for value in field.get_subfields(*codes))
    skip = str(field.indicator2 or "").strip()
    if skip.isdigit() and field.subfields and field.subfields[0].code == codes[0]:
        text = text[int(skip) :]
    return text.strip() or None


def _series(record: pymarc.Record) -> str | None:
    """Numbered series statements (490, 830): "title<TAB>number" per number."""
    entries = [
        f"{' '.join(field.get_subfields('a'))}{SERIES_NUMBER_SEPARATOR}{number}"
        for tag in ("490", "830")
        for field in record.get_fields(tag)
        for number in field.get_subfields("v")
    ]
    return SERIES_SEPARATOR.join(dict.fromkeys(entries)) or None


def _all_isbns(record: pymarc.Record) -> str | None:
    """Every ISBN of the record (020 $a), except one qualified as a whole set's."""
    isbns = []
    for field in record.get_fields("020"):
        qualifiers = " ".join(field.get_subfields("q"))
        for value in field.get_subfields("a"):
            token, _, rest = value.strip().partition(" ")
            if token and not _SET_ISBN.search(f"{rest} {qualifiers}"):
                isbns.append(token)
    return IDENTIFIER_SEPARATOR.join(dict.fromkeys(isbns)) or None


def _record_ids(record: pymarc.Record) -> str | None:
    """The record's control numbers: 001, 001 with its 003 organization, 035 $a."""
    own = _control(record, "001")
    organization = _control(record, "003")
    ids = [own, f"({organization}){own}" if own and organization else None]
    ids.append(_joined_values(record, "035", "a"))
    return IDENTIFIER_SEPARATOR.join(i for i in ids if i) or None


def _joined_values(record: pymarc.Record, tag: str, *codes: str) -> str | None:
    """The first word of every `codes` subfield of every `tag` field ("9780261102217 (pbk.)")."""
    values = [
        value.strip().partition(" ")[0]
        for field in record.get_fields(tag)
        for value in field.get_subfields(*codes)
    ]
    return IDENTIFIER_SEPARATOR.join(dict.fromkeys(v for v in values if v)) or None
