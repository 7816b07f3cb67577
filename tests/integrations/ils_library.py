"""A tiny library written out as each library system exports it.

Readers cluster by subject (Cooking, Astronomy; six books each): each of twelve readers per
subject borrows four consecutive books of that subject, so the right neighbours are known. The
same loans are rendered in every system's own layout, with each system's ids (Koha
biblionumbers, Evergreen record ids, FOLIO UUIDs, Alma MMS Ids), its MARC id field, and the rows
it writes beside the loans (returns, local use, anonymized loans, renewals, in-house use).
Every writer names the public schema its layout follows; the values are made up.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymarc

SUBJECTS = ("Cooking", "Astronomy")
BOOKS_PER_SUBJECT = 6
READERS_PER_SUBJECT = 12
LOANS_PER_READER = 4
# Recent enough for any retention window; whole days so a test's files do not change within it.
START = datetime.now(UTC).replace(hour=9, minute=30, second=0, microsecond=0) - timedelta(days=170)
FOLIO_NAMESPACE = uuid.UUID("6f1c3a52-0000-4000-8000-000000000000")


@dataclass(frozen=True)
class Loan:
    reader: int
    book: int
    at: datetime
    branch: int  # 0 or 1
    renewals: int


def loans() -> list[Loan]:
    """Reader r of subject s borrows books (r + j) % 6 of s, j = 0..3, every other one renewed."""
    rows = []
    for s in range(len(SUBJECTS)):
        for r in range(READERS_PER_SUBJECT):
            reader = s * READERS_PER_SUBJECT + r
            for j in range(LOANS_PER_READER):
                book = s * BOOKS_PER_SUBJECT + (r + j) % BOOKS_PER_SUBJECT
                at = START + timedelta(days=3 * (r * LOANS_PER_READER + j), hours=s)
                rows.append(Loan(reader, book, at, branch=r % 2, renewals=(r + j) % 2))
    return rows


def title(book: int) -> str:
    return f"{SUBJECTS[book // BOOKS_PER_SUBJECT]} book {book % BOOKS_PER_SUBJECT}"


def books_of_subject(subject: int) -> range:
    return range(subject * BOOKS_PER_SUBJECT, (subject + 1) * BOOKS_PER_SUBJECT)


def borrowed_by(reader: int) -> set[int]:
    return {loan.book for loan in loans() if loan.reader == reader}


def folio_id(kind: str, number: int) -> str:
    return str(uuid.uuid5(FOLIO_NAMESPACE, f"{kind}-{number}"))


@dataclass(frozen=True)
class System:
    """One system's ids and export writers for the tiny library."""

    preset: str
    book_id: Callable[[int], str]
    reader_id: Callable[[int], str]
    write_catalog: Callable[[Path], Path]
    write_loans: Callable[[Path], Path]
    write_items: Callable[[Path], Path] | None = None
    #: False where the OPAC cannot know the export's reader id (Koha's salted hash).
    personal_lists: bool = True


# --- MARC -------------------------------------------------------------------------------------


def _record(book: int, id_fields: list[pymarc.Field]) -> pymarc.Record:
    record = pymarc.Record()
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    fixed = "240105s2020    xxu           000 0 eng d"
    subject = SUBJECTS[book // BOOKS_PER_SUBJECT]
    record.add_field(
        *[field for field in id_fields if field.is_control_field()],
        pymarc.Field(tag="008", data=fixed),
        pymarc.Field(
            tag="100",
            indicators=pymarc.Indicators("1", " "),
            subfields=[pymarc.Subfield("a", f"Writer, {subject[0]}{book % 3}.")],
        ),
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("1", "0"),
            subfields=[pymarc.Subfield("a", f"{title(book)} /")],
        ),
        pymarc.Field(
            tag="650",
            indicators=pymarc.Indicators(" ", "0"),
            subfields=[pymarc.Subfield("a", f"{subject}.")],
        ),
        *[field for field in id_fields if not field.is_control_field()],
    )
    return record


def _write_marc(path: Path, records: list[pymarc.Record]) -> Path:
    if path.suffix == ".xml":
        writer = pymarc.XMLWriter(path.open("wb"))
        for record in records:
            writer.write(record)
        writer.close()  # closes the file too
    else:
        path.write_bytes(b"".join(record.as_marc() for record in records))
    return path


def _data_field(tag: str, indicators: str, **subfields: str) -> pymarc.Field:
    return pymarc.Field(
        tag=tag,
        indicators=pymarc.Indicators(*indicators),
        subfields=[pymarc.Subfield(code, value) for code, value in subfields.items()],
    )


def _books() -> range:
    return range(len(SUBJECTS) * BOOKS_PER_SUBJECT)


def _csv(path: Path, header: list[str], rows: list[dict[str, object]]) -> Path:
    """Write `rows` under the system's full `header`; columns a row does not give stay empty."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path


def _stamp(at: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return at.strftime(fmt)


# --- Koha -------------------------------------------------------------------------------------
# Layouts: Koha installer/data/mysql/kohastructure.sql, tables issues and old_issues
# (borrowernumber, itemnumber, issuedate, date_due, returndate, lastreneweddate, renewals_count,
# branchcode, onsite_checkout), items (itemnumber, biblionumber, barcode, homebranch,
# holdingbranch, ...), statistics (datetime, branch, value, type, other, itemnumber, itemtype,
# location, borrowernumber, ccode, categorycode, interface) and pseudonymized_transactions. MARC:
# Koha keeps the biblionumber in 999 $c ($d the biblioitemnumber); 001 here is an OCLC number.

KOHA_BRANCHES = ("CPL", "MPL")
KOHA_ANONYMOUS_PATRON = "4242"  # this site's AnonymousPatron (its own borrowernumber)
KOHA_ISSUES = [
    "borrowernumber", "itemnumber", "biblionumber", "issuedate", "date_due", "returndate",
    "lastreneweddate", "renewals_count", "branchcode", "onsite_checkout",
]  # fmt: skip
KOHA_ITEMS = [
    "itemnumber", "biblionumber", "biblioitemnumber", "barcode", "dateaccessioned",
    "homebranch", "itemcallnumber", "holdingbranch", "location", "onloan", "itype",
]  # fmt: skip
KOHA_STATISTICS = [
    "datetime", "branch", "value", "type", "other", "itemnumber", "itemtype", "location",
    "borrowernumber", "ccode", "categorycode", "interface",
]  # fmt: skip
KOHA_PSEUDONYMIZED = [
    "id", "hashed_borrowernumber", "has_cardnumber", "title", "city", "state", "zipcode",
    "country", "branchcode", "categorycode", "dateenrolled", "sex", "sort1", "sort2",
    "datetime", "transaction_branchcode", "transaction_type", "itemnumber", "itemtype",
    "holdingbranch", "homebranch", "location", "itemcallnumber", "ccode",
]  # fmt: skip


def koha_biblionumber(book: int) -> str:
    return str(101 + book)


def koha_itemnumber(book: int, branch: int) -> str:
    return str(9001 + 2 * book + branch)


def koha_borrowernumber(reader: int) -> str:
    return str(51 + reader)


def write_koha_catalog(folder: Path) -> Path:
    records = [
        _record(
            book,
            [
                pymarc.Field(tag="001", data=f"ocm{40000000 + book}"),
                _data_field("999", "  ", c=koha_biblionumber(book), d=koha_biblionumber(book)),
            ],
        )
        for book in _books()
    ]
    return _write_marc(folder / "koha-biblios.mrc", records)


def write_koha_items(folder: Path) -> Path:
    rows: list[dict[str, object]] = [
        {
            "itemnumber": koha_itemnumber(book, branch),
            "biblionumber": koha_biblionumber(book),
            "biblioitemnumber": koha_biblionumber(book),
            "barcode": f"3900{koha_itemnumber(book, branch)}",
            "dateaccessioned": "2023-11-02",
            "homebranch": KOHA_BRANCHES[branch],
            "itemcallnumber": f"641.5 W{book}",
            "holdingbranch": KOHA_BRANCHES[branch],
            "location": "GEN",
            "itype": "BK",
        }
        for book in _books()
        for branch in (0, 1)
    ]
    return _csv(folder / "koha-items.csv", KOHA_ITEMS, rows)


def write_koha_issues(folder: Path) -> Path:
    """old_issues and issues joined with items.biblionumber, as a Koha report exports them;
    anonymized history rows carry this site's AnonymousPatron or (before it was set) NULL."""
    rows: list[dict[str, object]] = []
    for loan in loans():
        rows.append(
            {
                "borrowernumber": koha_borrowernumber(loan.reader),
                "itemnumber": koha_itemnumber(loan.book, loan.branch),
                "biblionumber": koha_biblionumber(loan.book),
                "issuedate": _stamp(loan.at),
                "date_due": _stamp(loan.at + timedelta(days=28)),
                "returndate": _stamp(loan.at + timedelta(days=20)),
                "lastreneweddate": _stamp(loan.at + timedelta(days=14)) if loan.renewals else None,
                "renewals_count": loan.renewals,
                "branchcode": KOHA_BRANCHES[loan.branch],
                "onsite_checkout": 0,
            }
        )
    for n, anonymous in enumerate([KOHA_ANONYMOUS_PATRON] * 6 + [None] * 4):
        at = START - timedelta(days=300 - n)
        book = (7 * n) % len(_books())
        rows.append(
            {
                "borrowernumber": anonymous,
                "itemnumber": koha_itemnumber(book, 0),
                "biblionumber": koha_biblionumber(book),
                "issuedate": _stamp(at),
                "returndate": _stamp(at + timedelta(days=10)),
                "renewals_count": 0,
                "branchcode": KOHA_BRANCHES[0],
                "onsite_checkout": 0,
            }
        )
    return _csv(folder / "koha-issues.csv", KOHA_ISSUES, rows)


def _koha_transaction(at: datetime, kind: str, item: object, reader: object) -> dict[str, object]:
    return {
        "datetime": _stamp(at),
        "branch": "CPL",
        "value": "0.0000",
        "type": kind,
        "itemnumber": item,
        "itemtype": "BK",
        "location": "GEN",
        "borrowernumber": reader,
        "categorycode": "PT",
        "interface": "intranet",
    }


def write_koha_statistics(folder: Path) -> Path:
    """Every issue has its return; some loans are renewed; local use and payments come between."""
    rows: list[dict[str, object]] = []
    for loan in loans():
        item = koha_itemnumber(loan.book, loan.branch)
        reader = koha_borrowernumber(loan.reader)
        rows.append(_koha_transaction(loan.at, "issue", item, reader))
        if loan.renewals:
            rows.append(_koha_transaction(loan.at + timedelta(days=14), "renew", item, reader))
        rows.append(_koha_transaction(loan.at + timedelta(days=20), "return", item, reader))
    for n in range(5):
        at = START + timedelta(days=n, hours=3)
        rows.append(_koha_transaction(at, "localuse", koha_itemnumber(n, 0), None))
        payment = _koha_transaction(at, "payment", None, koha_borrowernumber(n))
        rows.append({**payment, "value": "2.5000", "itemtype": None, "location": None})
    return _csv(folder / "koha-statistics.csv", KOHA_STATISTICS, rows)


def koha_hashed(reader: int) -> str:
    """What Koha's Pseudonymization writes: a bcrypt-style hash of the borrowernumber."""
    digest = hashlib.sha256(f"koha-{reader}".encode()).hexdigest()[:53]
    return f"$2a$08${digest}"


def write_koha_pseudonymized(folder: Path) -> Path:
    rows: list[dict[str, object]] = []
    for loan in loans():
        branch = KOHA_BRANCHES[loan.branch]
        events = [("issue", loan.at), ("return", loan.at + timedelta(days=20))]
        if loan.renewals:
            events.insert(1, ("renew", loan.at + timedelta(days=14)))
        for kind, at in events:
            rows.append(
                {
                    "id": len(rows) + 1,
                    "hashed_borrowernumber": koha_hashed(loan.reader),
                    "has_cardnumber": 1,
                    "branchcode": branch,
                    "categorycode": "PT",
                    "dateenrolled": "2019-04-01",
                    "datetime": _stamp(at),
                    "transaction_branchcode": branch,
                    "transaction_type": kind,
                    "itemnumber": koha_itemnumber(loan.book, loan.branch),
                    "itemtype": "BK",
                    "holdingbranch": branch,
                    "homebranch": branch,
                    "location": "GEN",
                    "itemcallnumber": f"641.5 W{loan.book}",
                }
            )
    return _csv(folder / "koha-pseudonymized.csv", KOHA_PSEUDONYMIZED, rows)


# --- Evergreen --------------------------------------------------------------------------------
# Layouts: Evergreen Open-ILS/src/sql/Pg/090.schema.action.sql (action.circulation, inheriting
# money.billable_xact's id, usr, xact_start, xact_finish from 080.schema.money.sql; renewals are
# new circulations with parent_circ and a *_renewal flag; action.all_circulation adds
# copy_bib_record and has no usr for aged circulations) and 040.schema.asset.sql (asset.copy id,
# circ_lib, call_number, barcode; asset.call_number record). psql writes booleans as t/f and
# timestamps with their offset. MARC: 901 $c holds the record id (maintain_901); 001 here is an
# OCLC number.

EVERGREEN_LIBS = ("4", "5")
EVERGREEN_STAMP = "%Y-%m-%d %H:%M:%S.%f-05"
EVERGREEN_CIRCULATION = [
    "id", "usr", "xact_start", "xact_finish", "target_copy", "circ_lib", "circ_staff",
    "renewal_remaining", "due_date", "checkin_time", "desk_renewal", "opac_renewal",
    "phone_renewal", "auto_renewal", "parent_circ", "copy_bib_record",
]  # fmt: skip
EVERGREEN_COPIES = ["id", "record", "circ_lib", "barcode", "call_number", "status"]


def evergreen_record(book: int) -> str:
    return str(201 + book)


def evergreen_copy(book: int, branch: int) -> str:
    return str(4001 + 2 * book + branch)


def evergreen_usr(reader: int) -> str:
    return str(1001 + reader)


def write_evergreen_catalog(folder: Path) -> Path:
    records = [
        _record(
            book,
            [
                pymarc.Field(tag="001", data=f"ocm{50000000 + book}"),
                _data_field(
                    "901", "  ", a=f"ocm{50000000 + book}", c=evergreen_record(book), t="biblio"
                ),
            ],
        )
        for book in _books()
    ]
    return _write_marc(folder / "evergreen-bibs.xml", records)


def write_evergreen_copies(folder: Path) -> Path:
    rows: list[dict[str, object]] = [
        {
            "id": evergreen_copy(book, branch),
            "record": evergreen_record(book),
            "circ_lib": EVERGREEN_LIBS[branch],
            "barcode": f"3113{evergreen_copy(book, branch)}",
            "call_number": 700 + book,
            "status": 0,
        }
        for book in _books()
        for branch in (0, 1)
    ]
    return _csv(folder / "evergreen-copies.csv", EVERGREEN_COPIES, rows)


def _circulation(number: int, at: datetime, copy: str, lib: str) -> dict[str, object]:
    flags = dict.fromkeys(("desk_renewal", "opac_renewal", "phone_renewal", "auto_renewal"), "f")
    return {
        "id": number,
        "xact_start": _stamp(at, EVERGREEN_STAMP),
        "target_copy": copy,
        "circ_lib": lib,
        "circ_staff": 1,
        "renewal_remaining": 2,
        "due_date": _stamp(at + timedelta(days=21), EVERGREEN_STAMP),
        **flags,
    }


def write_evergreen_circulations(folder: Path) -> Path:
    rows: list[dict[str, object]] = []
    for loan in loans():
        copy, lib = evergreen_copy(loan.book, loan.branch), EVERGREEN_LIBS[loan.branch]
        parent = len(rows) + 1
        rows.append({**_circulation(parent, loan.at, copy, lib), "usr": evergreen_usr(loan.reader)})
        if loan.renewals:
            renewal = _circulation(len(rows) + 1, loan.at + timedelta(days=14), copy, lib)
            renewal.update(usr=evergreen_usr(loan.reader), opac_renewal="t", parent_circ=parent)
            rows.append(renewal)
    for n in range(6):  # aged circulations from action.all_circulation: no usr, a record
        book = (5 * n) % len(_books())
        aged = _circulation(
            90000 + n, START - timedelta(days=300 - n), evergreen_copy(book, 0), "4"
        )
        rows.append({**aged, "copy_bib_record": evergreen_record(book)})
    return _csv(folder / "evergreen-circulation.csv", EVERGREEN_CIRCULATION, rows)


# --- FOLIO ------------------------------------------------------------------------------------
# Layout: FOLIO mod-circulation ramls/loans.json ({"loans": [...], "totalRecords": n}) and
# ramls/loan.json (id, userId, itemId, item {id, title, barcode, instanceId, holdingsRecordId,
# ...}, borrower {firstName, lastName, barcode}, loanDate, dueDate, returnDate, action,
# renewalCount, status, checkoutServicePointId). Anonymized closed loans have no userId and no
# borrower. MARC from source record storage: 001 is the instance HRID, 999 ff $i the instance
# UUID ($s the SRS record id).

FOLIO_SERVICE_POINTS = (folio_id("service-point", 0), folio_id("service-point", 1))


def folio_instance(book: int) -> str:
    return folio_id("instance", book)


def folio_user(reader: int) -> str:
    return folio_id("user", reader)


def write_folio_catalog(folder: Path) -> Path:
    records = [
        _record(
            book,
            [
                pymarc.Field(tag="001", data=f"in{book:011d}"),
                _data_field("999", "ff", s=folio_id("srs", book), i=folio_instance(book)),
            ],
        )
        for book in _books()
    ]
    return _write_marc(folder / "folio-instances.mrc", records)


def _folio_loan(loan: Loan, n: int) -> dict[str, object]:
    item = folio_id("item", 2 * loan.book + loan.branch)
    return {
        "id": folio_id("loan", n),
        "userId": folio_user(loan.reader),
        "itemId": item,
        "item": {
            "id": item,
            "title": title(loan.book),
            "barcode": f"0360{2 * loan.book + loan.branch:08d}",
            "instanceId": folio_instance(loan.book),
            "holdingsRecordId": folio_id("holdings", loan.book),
            "status": {"name": "Available"},
            "contributors": [{"name": "Writer"}],
        },
        "borrower": {"firstName": "Ada", "lastName": "Lovelace", "barcode": f"2100{n:06d}"},
        "loanDate": loan.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "dueDate": (loan.at + timedelta(days=28)).isoformat(timespec="milliseconds"),
        "returnDate": (loan.at + timedelta(days=20)).isoformat(timespec="milliseconds"),
        "action": "renewed" if loan.renewals else "checkedin",
        "renewalCount": loan.renewals,
        "status": {"name": "Closed"},
        "checkoutServicePointId": FOLIO_SERVICE_POINTS[loan.branch],
    }


def write_folio_loans(folder: Path) -> Path:
    records = [_folio_loan(loan, n) for n, loan in enumerate(loans())]
    for n, loan in enumerate(loans()[:5]):  # anonymized closed loans: no userId, no borrower
        anonymized = _folio_loan(loan, 1000 + n)
        del anonymized["userId"], anonymized["borrower"]
        records.append(anonymized)
    path = folder / "folio-loans.json"
    path.write_text(json.dumps({"loans": records, "totalRecords": len(records)}, indent=2))
    return path


# --- Alma -------------------------------------------------------------------------------------
# Layout: an Alma Analytics analysis on the Fulfillment subject area with Loan Details (Loan
# Date, Loan Time, In House Loan Indicator, Process Status), Bibliographic Details (MMS Id,
# Title), Borrower Details (Primary Identifier) and the loan's library (Library Code),
# downloaded as CSV with the US date format. Anonymized loans show the patron as -1. MARC: the
# MMS Id is 001.

ALMA_LIBRARIES = ("MAIN", "SCI")
ALMA_FULFILLMENT = [
    "Loan Date", "Loan Time", "MMS Id", "Title", "Library Code", "Primary Identifier",
    "In House Loan Indicator", "Process Status",
]  # fmt: skip
US_DATE = "%-m/%-d/%Y"


def alma_mms(book: int) -> str:
    return f"99{1000 + book}3506421"


def alma_patron(reader: int) -> str:
    return f"P{70000 + reader}"


def write_alma_catalog(folder: Path) -> Path:
    records = [_record(book, [pymarc.Field(tag="001", data=alma_mms(book))]) for book in _books()]
    return _write_marc(folder / "alma-bibs.xml", records)


def _alma_loan(at: datetime, book: int, library: str, patron: str) -> dict[str, object]:
    return {
        "Loan Date": _stamp(at, US_DATE),
        "Loan Time": _stamp(at, "%H:%M:%S"),
        "MMS Id": alma_mms(book),
        "Title": title(book),
        "Library Code": library,
        "Primary Identifier": patron,
        "In House Loan Indicator": "N",
        "Process Status": "Normal",
    }


def write_alma_fulfillment(folder: Path) -> Path:
    rows = []
    for loan in loans():
        row = _alma_loan(loan.at, loan.book, ALMA_LIBRARIES[loan.branch], alma_patron(loan.reader))
        rows.append({**row, "Process Status": "Renew" if loan.renewals else "Normal"})
    for n in range(8):
        at, book = START + timedelta(days=40 + n), (5 * n) % len(_books())
        rows.append(_alma_loan(at, book, "MAIN", "-1"))
        in_house = _alma_loan(at + timedelta(hours=1), book, "SCI", alma_patron(n))
        rows.append({**in_house, "In House Loan Indicator": "Y"})
    return _csv(folder / "alma-fulfillment.csv", ALMA_FULFILLMENT, rows)


SYSTEMS = {
    system.preset: system
    for system in (
        System(
            "koha-issues",
            koha_biblionumber,
            koha_borrowernumber,
            write_koha_catalog,
            write_koha_issues,
        ),
        System(
            "koha-statistics",
            koha_biblionumber,
            koha_borrowernumber,
            write_koha_catalog,
            write_koha_statistics,
            write_koha_items,
        ),
        System(
            "koha-pseudonymized",
            koha_biblionumber,
            koha_hashed,
            write_koha_catalog,
            write_koha_pseudonymized,
            write_koha_items,
            personal_lists=False,
        ),
        System(
            "folio-loans",
            folio_instance,
            folio_user,
            write_folio_catalog,
            write_folio_loans,
        ),
        System(
            "evergreen-circ",
            evergreen_record,
            evergreen_usr,
            write_evergreen_catalog,
            write_evergreen_circulations,
            write_evergreen_copies,
        ),
        System(
            "alma-fulfillment",
            alma_mms,
            alma_patron,
            write_alma_catalog,
            write_alma_fulfillment,
        ),
    )
}
