"""The grouping report: the largest works and each kind of borderline decision, by hand."""

from __future__ import annotations

import pandas as pd

from recsys.columns import Columns as C
from recsys.data import works
from recsys.data import works_report as R
from recsys.data.work_evidence import record_evidence

CATALOG = [
    # book_id, title, author, isbn
    ("a1", "Fahrenheit 451 /", "Bradbury, Ray, 1920-2012", "9782070415731"),
    ("a2", "Fahrenheit 451", "Bradbury, Ray", "9780006546061"),
    ("a3", "FAHRENHEIT 451 :", "Bradbury, Ray 1920-2012", "9782207178560"),
    ("b1", "L'espèce humaine : [récit] /", "Antelme, Robert", "9782070710744"),
    ("b2", "L'espèce humaine /", "Antelme, Robert", "2070710742"),
    ("c1", "Oeuvres complètes /", "Breton, André", "9782070111381"),
    ("c2", "Oeuvres complètes", "Breton, André", "9782070113767"),
    ("d1", "Droit administratif /", "Moor, Pierre", "9783727223631"),
    ("d2", "Droit administratif", "Moor, Pierre", "9783727223648"),
    ("e1", "Vies des douze Césars /", "Suetonius", None),
    ("e2", "Vies des douze Césars", "Suetonius", None),
    ("f1", "Death note /", "Ohba, Tsugumi", "9782505000327; 9782505002697"),
    ("f2", "Ennui /", "Ohba, Tsugumi", "9782505000327"),
    ("g1", "1984 /", "Orwell, George", "9782072938221"),
    ("g2", "1984", "Coste, Xavier", "9782203227064"),
    ("g3", "1984", None, None),
]


def _report() -> R.WorksReport:
    catalog = pd.DataFrame(CATALOG, columns=[C.BOOK_ID, C.TITLE, C.AUTHOR, C.ISBN])
    evidence = record_evidence(catalog)
    sources = catalog.assign(
        **{
            C.WORK_ID: None,
            C.WORK_KEY: catalog[C.BOOK_ID].map(works.group_records(evidence).work_key),
        }
    )
    return R.works_report(sources, evidence)


def test_the_largest_works_come_first_with_titles_shown_clean() -> None:
    largest = _report().largest
    assert largest.iloc[0][[C.TITLE, C.AUTHOR, "records", "book_ids"]].tolist() == [
        "Fahrenheit 451",
        "Bradbury, Ray",
        3,
        "a1 a2 a3",
    ]
    assert largest["records"].tolist() == [3, 2, 2, 2, 2]


def test_each_kind_of_borderline_decision_is_listed_with_its_reason() -> None:
    borderline = _report().borderline
    rows = {
        (row["check"], row["why"], row[C.BOOK_ID], row["other_book_id"])
        for _, row in borderline.iterrows()
    }
    assert rows == {
        (R.JOINED, works.BY_ISBN, "b1", "b2"),
        (R.VOLUMES, R.COLLECTIVE_TITLE, "c1", "c2"),
        (R.VOLUMES, R.CLOSE_ISBNS, "d1", "d2"),
        (R.VOLUMES, R.NO_ISBNS, "e1", "e2"),
        (R.KEPT_APART, f"{works.BY_ISBN}: {works.TITLES_DIFFER}", "f1", "f2"),
        (R.SAME_TITLE, "", "g1", "g2"),
        (R.SAME_TITLE, "", "g1", "g3"),
    }
    assert borderline["check"].map(R.CHECK_ORDER).is_monotonic_increasing
    summary = _report().summary
    assert summary["records"] == 16 and summary["works of several records"] == 5
