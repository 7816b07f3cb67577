"""ILS export presets: each system's own loan export mapped onto ours, declared as data.

A preset gives each *role* (our loan columns, plus the columns its rules read) the export
column names that fill it, first present wins; which rows are loan events and which are set
aside (a return is not a loan); which loans were renewed; the ids under which the system files
anonymized loans; where its MARC records keep their id; and how its items export links copies
to records. The layouts come from each system's public schema, named above each preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import pandas as pd

from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.exceptions import ConfigurationError
from recsys.integrations import alma, evergreen
from recsys.integrations.rules import (
    EVENT,
    RENEWALS,
    RENEWED_AT,
    Classifier,
    RenewalRule,
    by_transaction_type,
    every_row_a_loan,
    loan_time,
    one_of,
    renewal_count_above_zero,
)

Names = tuple[str, ...]


class Format(Enum):
    """How an export is written: CSV (plain or gzip), or FOLIO's loans JSON."""

    CSV = "csv"
    FOLIO_JSON = "folio-json"


@dataclass(frozen=True)
class ItemsLayout:
    """The system's items export: copy id, the record it belongs to, its library."""

    copy_id: Names
    book_id: Names
    library_id: Names
    export: str

    @property
    def roles(self) -> dict[str, Names]:
        return {C.COPY_ID: self.copy_id, C.BOOK_ID: self.book_id, C.LIBRARY_ID: self.library_id}


@dataclass(frozen=True)
class Preset:
    """One system's loan export and the conventions that go with it."""

    name: str
    system: str
    #: The export to take, in the system's own words (the README lists these).
    export: str
    #: Role -> export column names (first present wins). A loan's book comes from the
    #: ``book_id`` role when the export has it, else from ``copy_id`` through the items export.
    columns: Mapping[str, Names]
    items: ItemsLayout | None
    classify: Classifier = every_row_a_loan
    renewed: RenewalRule | None = None
    #: The loan's time as text the validator reads (ISO 8601); Alma's needs rewriting.
    times: Callable[[pd.DataFrame], pd.Series] = loan_time
    #: Reader ids the system files every anonymized loan under (known defaults).
    anonymous_ids: tuple[str, ...] = ()
    #: The system blanks the reader of anonymized loans: a blank reader is anonymous, not bad.
    blank_reader_is_anonymous: bool = False
    #: Where the system's MARC records keep the id its loans use.
    catalog_id_field: str = "001"
    format: Format = Format.CSV
    #: Roles whose column must exist, beside the reader, the time and a book or copy id.
    required: Names = ()


# Layout: Koha installer/data/mysql/kohastructure.sql, table items
KOHA_ITEMS = ItemsLayout(
    copy_id=("itemnumber",),
    book_id=("biblionumber",),
    library_id=("homebranch", "holdingbranch"),
    export="the items table (SELECT itemnumber, biblionumber, homebranch FROM items)",
)
# Layout: Evergreen Open-ILS/src/sql/Pg/040.schema.asset.sql, asset.copy and asset.call_number
EVERGREEN_COPIES = ItemsLayout(
    copy_id=("id", "target_copy"),
    book_id=("record",),
    library_id=("circ_lib",),
    export=(
        "copies with their record (SELECT cp.id, cn.record, cp.circ_lib FROM asset.copy cp "
        "JOIN asset.call_number cn ON cn.id = cp.call_number)"
    ),
)
# Layout: FOLIO mod-inventory-storage ramls/item.json (id, holdingsRecordId,
# effectiveLocationId) and ramls/holdingsrecord.json (instanceId)
FOLIO_ITEMS = ItemsLayout(
    copy_id=("id", "itemId"),
    book_id=("instanceId",),
    library_id=("effectiveLocationId",),
    export=(
        "item ids with their instance (item id and holdings record's instanceId, e.g. a "
        "reporting-database join of items and holdings records), as CSV"
    ),
)

# Koha's statistics and pseudonymized_transactions share the transaction types of
# Koha::Statistic (issue, renew, return, localuse, onsite_checkout, recall, item_found,
# item_lost, writeoff, payment). An on-site checkout lends the copy to a named reader for use
# in the library (a reading room's whole lending): a loan. Local use is a copy left on a
# table, with no reader; a recall is a request on a copy someone else holds.
KOHA_TYPES = by_transaction_type(
    events={"issue": Events.LOAN, "onsite_checkout": Events.LOAN, "renew": Events.RENEWAL},
    not_loans=("return", "localuse", "recall", "item_found", "item_lost", "writeoff", "payment"),
)
#: Koha's AnonymousPatron system preference defaults to 0, which some older versions wrote into
#: old_issues.borrowernumber; while it is unset, Koha writes NULL (a blank reader).
KOHA_ANONYMOUS = ("0",)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # Layout: Koha installer/data/mysql/kohastructure.sql, tables issues, old_issues, items
        Preset(
            name="koha-issues",
            system="Koha",
            export=(
                "issues and old_issues joined with items (borrowernumber, itemnumber, "
                "biblionumber, issuedate, returndate, renewals_count, branchcode)"
            ),
            columns={
                C.READER_ID: ("borrowernumber",),
                C.BORROWED_AT: ("issuedate",),
                C.BOOK_ID: ("biblionumber",),
                C.COPY_ID: ("itemnumber",),
                C.LIBRARY_ID: ("branchcode",),
                RENEWALS: ("renewals_count", "renewals"),
                RENEWED_AT: ("lastreneweddate",),
            },
            items=KOHA_ITEMS,
            renewed=renewal_count_above_zero(),
            anonymous_ids=KOHA_ANONYMOUS,
            blank_reader_is_anonymous=True,
            catalog_id_field="999c",
        ),
        # Layout: Koha installer/data/mysql/kohastructure.sql, table statistics
        Preset(
            name="koha-statistics",
            system="Koha",
            export="the statistics table (datetime, branch, type, itemnumber, borrowernumber)",
            columns={
                C.READER_ID: ("borrowernumber",),
                C.BORROWED_AT: ("datetime",),
                C.COPY_ID: ("itemnumber",),
                C.LIBRARY_ID: ("branch",),
                EVENT: ("type",),
            },
            items=KOHA_ITEMS,
            classify=KOHA_TYPES,
            anonymous_ids=KOHA_ANONYMOUS,
            blank_reader_is_anonymous=True,
            catalog_id_field="999c",
            required=(EVENT,),
        ),
        # Layout: Koha installer/data/mysql/kohastructure.sql, table pseudonymized_transactions
        Preset(
            name="koha-pseudonymized",
            system="Koha",
            export=(
                "the pseudonymized_transactions table (hashed_borrowernumber, datetime, "
                "transaction_type, itemnumber, homebranch)"
            ),
            columns={
                C.READER_ID: ("hashed_borrowernumber",),
                C.BORROWED_AT: ("datetime",),
                C.COPY_ID: ("itemnumber",),
                C.LIBRARY_ID: ("transaction_branchcode", "homebranch"),
                EVENT: ("transaction_type",),
            },
            items=KOHA_ITEMS,
            classify=KOHA_TYPES,
            catalog_id_field="999c",
            required=(EVENT,),
        ),
        # Layout: FOLIO mod-circulation ramls/loan.json and ramls/loans.json
        Preset(
            name="folio-loans",
            system="FOLIO",
            export=(
                "the JSON of GET /circulation/loans (userId, itemId, item.instanceId, "
                "loanDate, action, renewalCount)"
            ),
            columns={
                C.READER_ID: ("userId",),
                C.BORROWED_AT: ("loanDate",),
                C.BOOK_ID: ("item.instanceId",),
                C.COPY_ID: ("itemId",),
                C.LIBRARY_ID: ("checkoutServicePointId", "itemEffectiveLocationIdAtCheckOut"),
                EVENT: ("action",),
                RENEWALS: ("renewalCount",),
            },
            items=FOLIO_ITEMS,
            renewed=renewal_count_above_zero(
                also=one_of(EVENT, ("renewed", "renewedThroughOverride"))
            ),
            blank_reader_is_anonymous=True,
            catalog_id_field="999i",
            format=Format.FOLIO_JSON,
        ),
        # Layout: Evergreen Open-ILS/src/sql/Pg/090.schema.action.sql (action.circulation,
        # action.all_circulation) and 080.schema.money.sql (money.billable_xact)
        Preset(
            name="evergreen-circ",
            system="Evergreen",
            export=(
                "action.circulation (usr, target_copy, xact_start, circ_lib, parent_circ), "
                "or action.all_circulation with copy_bib_record"
            ),
            columns={
                C.READER_ID: ("usr",),
                C.BORROWED_AT: ("xact_start",),
                C.BOOK_ID: ("copy_bib_record",),
                C.COPY_ID: ("target_copy",),
                C.LIBRARY_ID: ("circ_lib",),
                evergreen.PARENT_CIRC: ("parent_circ",),
                **{flag: (flag,) for flag in evergreen.RENEWAL_FLAGS},
            },
            items=EVERGREEN_COPIES,
            classify=evergreen.classify_circulations,
            blank_reader_is_anonymous=True,
            catalog_id_field="901c",
        ),
        # Layout: Ex Libris Alma Analytics, Fulfillment subject area: Loan Details,
        # Bibliographic Details, Borrower Details, Item Location fields
        Preset(
            name="alma-fulfillment",
            system="Alma",
            export=(
                "an Analytics report on the Fulfillment subject area (Loan Date, MMS Id, "
                "Library Code, Primary Identifier; optional Loan Time, In House Loan "
                "Indicator, Process Status, Item Id) as CSV"
            ),
            columns={
                C.READER_ID: ("Primary Identifier", "User Primary Identifier", "Patron Id"),
                C.BORROWED_AT: ("Loan Date",),
                C.BOOK_ID: ("MMS Id", "MMS ID"),
                C.COPY_ID: ("Item Id", "Item ID", "Barcode"),
                C.LIBRARY_ID: ("Library Code", "Library Name"),
                alma.LOAN_TIME: ("Loan Time",),
                alma.IN_HOUSE: ("In House Loan Indicator", "In-House Loan Indicator"),
                alma.PROCESS_STATUS: ("Process Status",),
            },
            items=None,
            classify=alma.classify_fulfillment,
            times=alma.loan_times,
            renewed=one_of(alma.PROCESS_STATUS, ("renew", "renewed")),
            anonymous_ids=("-1",),
            catalog_id_field="001",
            required=(C.BOOK_ID,),
        ),
    )
}
NONE = "none"


def get_preset(name: str, *, option: str = "--preset") -> Preset:
    """The preset called `name`, refusing an unknown one with the list of known ones."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ConfigurationError(
            f"{option} must be one of {sorted(PRESETS)} (or {NONE!r}); got {name!r}"
        ) from None
