"""Readers' voice through the HTTP API: each feedback kind, taking it back, exclusions, the
profile, the data export and the minors' default, each honoured from the next request on.

The tiny library (`service_library`): readers ``R<s><nn>`` borrow four of the six works of
subject s (History is subject 1, Cooking subject 3); work ``W000`` has two records, ``B000``
and its ebook ``B000E``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recsys.config import Settings
from recsys.db.tables import loans
from recsys.ingest import ingest_file
from recsys.privacy import Pseudonymizer
from recsys.reader_data import EXPORT_COLUMNS, iso

from .service_library import (
    ADMIN_KEY,
    PSEUDONYM_KEY,
    READER_KEY,
    START,
    TRAIN_END,
    book_id,
    metric_value,
    reader_get,
)

HEADERS = {"X-API-Key": READER_KEY}
WORK_W000 = {"B000", "B000E"}


def _books(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["book_id"] for item in response.json()["items"]]


def _feedback(client: TestClient, reader: str, book: str, kind: str) -> httpx.Response:
    return client.post(
        f"/readers/{reader}/feedback", json={"book_id": book, "kind": kind}, headers=HEADERS
    )


def _no_reader_id(text: str, *readers: str) -> None:
    pseudonymizer = Pseudonymizer(PSEUDONYM_KEY.encode())
    for reader in readers:
        assert reader not in text
        assert pseudonymizer.pseudonymize(reader) not in text


def test_not_interested_hides_every_record_of_the_work_from_the_next_request_until_taken_back(
    fresh_client: TestClient,
) -> None:
    before = _books(reader_get(fresh_client, "R001", k=5))
    shown = next(b for b in before if b in WORK_W000)
    other_record = (WORK_W000 - {shown}).pop()

    answer = _feedback(fresh_client, "R001", other_record, "not_interested")

    assert answer.status_code == 201
    assert answer.json() == {
        "book_id": other_record,
        "kind": "not_interested",
        "replaced": [],
        "personalized": True,
    }
    after = _books(reader_get(fresh_client, "R001", k=5))
    assert not WORK_W000 & set(after) and len(after) == 5
    group = fresh_client.post(
        "/groups/recommendations", json={"reader_ids": ["R001", "R002"], "k": 8}, headers=HEADERS
    )
    assert not WORK_W000 & set(_books(group))
    taken_back = fresh_client.delete(
        "/readers/R001/feedback",
        params={"book_id": other_record, "kind": "not_interested"},
        headers=HEADERS,
    )
    assert taken_back.json() == {"book_id": other_record, "withdrawn": ["not_interested"]}
    assert shown in _books(reader_get(fresh_client, "R001", k=5))


@pytest.mark.parametrize(
    ("kind", "book", "reason"),
    [
        ("already_read", book_id(3, 0), "because you read Cooking tale 0"),
        ("liked", book_id(1, 2), "because you liked History tale 2"),
    ],
)
def test_read_and_liked_books_count_as_history_at_once(
    fresh_client: TestClient, kind: str, book: str, reason: str
) -> None:
    reader = f"R-FRESH-{kind}"
    assert reader_get(fresh_client, reader).json()["strategy"] == "fallback:popular"

    assert _feedback(fresh_client, reader, book, kind).status_code == 201

    answer = reader_get(fresh_client, reader, k=4).json()
    assert answer["strategy"] == "fold-in"
    books = [item["book_id"] for item in answer["items"]]
    assert book not in books
    subject = book[1]
    assert all(b[1] == subject for b in books[:3]), books  # the book's own subject leads
    assert reason in [item["reason"] for item in answer["items"]]


def test_liked_and_not_interested_replace_each_other(fresh_client: TestClient) -> None:
    _feedback(fresh_client, "R101", "B105", "liked")
    answer = _feedback(fresh_client, "R101", "B105", "not_interested")
    assert answer.json()["replaced"] == ["liked"]
    profile = fresh_client.get("/readers/R101/profile", headers=HEADERS).json()
    assert [(f["book_id"], f["kind"]) for f in profile["feedback"]] == [("B105", "not_interested")]


def test_an_exclusion_stops_a_book_feeding_the_list_at_once_and_keeps_the_loan(
    fresh_client: TestClient, library: Engine
) -> None:
    borrowed = [book_id(2, n) for n in range(4)]  # R200's loans
    with library.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(loans)).scalar_one()
    for book in borrowed:
        answer = fresh_client.post(
            "/readers/R200/profile/exclusions", json={"book_id": book}, headers=HEADERS
        )
        assert answer.json() == {"book_id": book, "excluded": True, "changed": True}

    nothing = reader_get(fresh_client, "R200", k=5).json()
    assert nothing["strategy"] == "fallback:popular"
    assert not set(borrowed) & {item["book_id"] for item in nothing["items"]}
    profile = fresh_client.get("/readers/R200/profile", headers=HEADERS).json()
    assert profile["feeding"] == []
    assert {(w["book_id"], w["why"]) for w in profile["withheld"]} == {
        (b, "excluded") for b in borrowed
    }
    with library.connect() as connection:
        assert connection.execute(select(func.count()).select_from(loans)).scalar_one() == stored

    back = fresh_client.delete(
        "/readers/R200/profile/exclusions", params={"book_id": borrowed[0]}, headers=HEADERS
    )
    assert back.json() == {"book_id": borrowed[0], "excluded": False, "changed": True}
    again = reader_get(fresh_client, "R200", k=5).json()
    assert again["strategy"] == "fold-in"
    assert "because you borrowed Science tale 0" in [i["reason"] for i in again["items"]]


def test_the_profile_shows_what_feeds_the_list_and_what_each_book_led_to(
    fresh_client: TestClient,
) -> None:
    assert _feedback(fresh_client, "R000", "B104", "not_interested").status_code == 201
    answer = fresh_client.get("/readers/R000/profile", headers=HEADERS)

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    profile = answer.json()
    assert profile["consent"] == {
        "personalized": True,
        "answer": None,
        "answered_at": None,
        "consent_mode": "opt-out",
        "category": None,
        "minor": False,
    }
    feeding = {book["book_id"]: book for book in profile["feeding"]}
    assert set(feeding) == {"B000", "B001", "B002", "B003", "B005"}
    assert feeding["B000"]["events"] == [{"event": "loan", "at": iso(START)}]
    assert feeding["B000"]["title"] == "Fantasy tale 0"
    listed = reader_get(fresh_client, "R000", k=10).json()["items"]
    for book in profile["feeding"]:
        reason = f"because you borrowed {book['title']}"
        explained = [i["book_id"] for i in listed if i["reason"] == reason]
        assert [led["book_id"] for led in book["led_to"]] == explained
    assert any(book["led_to"] for book in profile["feeding"])
    assert profile["withheld"][0]["book_id"] == "B104"
    assert profile["withheld"][0]["why"] == "not_interested"
    _no_reader_id(answer.text, "R000")


def test_the_export_holds_every_stored_row_and_what_the_model_holds_in_json_and_csv(
    fresh_client: TestClient,
) -> None:
    _feedback(fresh_client, "R000", "B004", "already_read")
    fresh_client.post("/readers/R000/profile/exclusions", json={"book_id": "B001"}, headers=HEADERS)

    answer = fresh_client.get("/readers/R000/export", headers=HEADERS)

    assert answer.headers["content-disposition"] == 'attachment; filename="reader-data.json"'
    document = answer.json()
    assert [(row["book_id"], row["at"][:10]) for row in document["loans"]] == [
        ("B000", "2023-11-14"),
        ("B001", "2023-11-15"),
        ("B002", "2023-11-16"),
        ("B003", "2023-11-17"),
        ("B005", "2024-06-02"),
    ]
    assert [(f["book_id"], f["kind"]) for f in document["feedback"]] == [("B004", "already_read")]
    assert [e["book_id"] for e in document["exclusions"]] == ["B001"]
    assert document["model"]["holds_reader"] is True
    assert {b["book_id"] for b in document["model"]["books"]} == {"B000", "B001", "B002", "B003"}
    _no_reader_id(answer.text, "R000")

    table = fresh_client.get("/readers/R000/export", params={"format": "csv"}, headers=HEADERS)
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    records = [row["record"] for row in rows]
    assert records.count("loan") == 5 and records.count("model") == 4
    assert {"consent", "category", "feedback", "exclusion"} <= set(records)
    _no_reader_id(table.text, "R000")


def test_bad_feedback_requests_get_a_clear_error_and_change_nothing(
    fresh_client: TestClient,
) -> None:
    unknown = _feedback(fresh_client, "R001", "3000000123456", "liked")
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("book_id is not a record of the catalog")
    assert "3000000123456" not in unknown.text  # never echoed: it may be a card number
    assert _feedback(fresh_client, "R001", "B001", "loved").status_code == 422
    nothing = fresh_client.delete(
        "/readers/R001/feedback", params={"book_id": "B001"}, headers=HEADERS
    )
    assert nothing.status_code == 404
    assert nothing.json()["detail"] == "the reader gave no feedback on this book"
    not_excluded = fresh_client.delete(
        "/readers/R001/profile/exclusions", params={"book_id": "B001"}, headers=HEADERS
    )
    assert not_excluded.status_code == 404
    assert not_excluded.json()["detail"] == "the reader did not exclude this book"
    for headers, status in (({}, 401), ({"X-API-Key": ADMIN_KEY}, 403)):
        post = fresh_client.post(
            "/readers/R001/feedback", json={"book_id": "B001", "kind": "liked"}, headers=headers
        )
        assert post.status_code == status
        assert fresh_client.get("/readers/R001/profile", headers=headers).status_code == status
    profile = fresh_client.get("/readers/R001/profile", headers=HEADERS).json()
    assert profile["feedback"] == []


def test_feedback_exclusions_and_data_requests_are_counted_without_ids(
    fresh_client: TestClient,
) -> None:
    _feedback(fresh_client, "R001", "B000", "liked")
    _feedback(fresh_client, "R001", "B000", "not_interested")
    fresh_client.post("/readers/R001/profile/exclusions", json={"book_id": "B001"}, headers=HEADERS)
    fresh_client.get("/readers/R001/export", params={"format": "csv"}, headers=HEADERS)

    text = fresh_client.get("/metrics").text

    counted = "recsys_reader_feedback_total"
    assert metric_value(text, counted, kind="liked", action="given") == 1
    assert metric_value(text, counted, kind="not_interested", action="given") == 1
    assert metric_value(text, counted, kind="already_read", action="given") == 0
    assert metric_value(text, "recsys_reader_exclusions_total", action="excluded") == 1
    assert metric_value(text, "recsys_reader_data_requests_total", kind="export_csv") == 1
    _no_reader_id(text, "R001")
    assert "B000" not in text


def test_a_minor_without_consent_gets_no_personal_list_and_an_adult_does(
    make_client: Callable[..., TestClient], service_settings: Settings, tmp_path: Path
) -> None:
    """Categories come with a loans export; the library's codes are mapped by a setting. The
    general mode is opt-out, minors are opt-in by default."""
    settings = service_settings.model_copy(
        update={"reader_categories": "J=child,A=adult", "retention_days": 36_500}
    )
    export = tmp_path / "loans.csv"
    rows = [
        f"{reader},{book_id(1, n)},{TRAIN_END + (n + 1) * 86_400},{code}"
        for reader, code in (("KID", "J"), ("GROWN", "A"))
        for n in range(3)
    ]
    export.write_text("reader_id,book_id,borrowed_at,reader_category\n" + "\n".join(rows) + "\n")
    client = make_client(settings)
    report = ingest_file(client.app.state.engine, settings, kind="loans", path=export)  # type: ignore[attr-defined]
    assert (report.rows_accepted, report.rows_quarantined) == (6, 0)

    assert reader_get(client, "KID").json()["strategy"] == "fallback:popular"
    assert reader_get(client, "GROWN").json()["strategy"] == "fold-in"
    profile = client.get("/readers/KID/profile", headers=HEADERS).json()
    assert profile["consent"]["minor"] is True
    assert profile["consent"]["consent_mode"] == "opt-in"
    assert profile["consent"]["personalized"] is False and profile["feeding"] == []

    consent = client.put(
        "/admin/readers/KID/consent", json={"consented": True}, headers={"X-API-Key": ADMIN_KEY}
    )
    assert consent.json()["personalized"] is True
    kid = reader_get(client, "KID", k=3).json()
    assert kid["strategy"] == "fold-in"
    assert all(item["book_id"][1] == "1" for item in kid["items"])


def test_feedback_changes_the_next_answer_of_a_real_server(live_server: str) -> None:
    """Over real HTTP, the front door answers plain list requests from its cache while the
    reader's rows are unchanged: a feedback must change those rows, and so the answer."""
    with httpx.Client(base_url=live_server, headers=HEADERS, timeout=10) as http:
        first = _books(http.get("/readers/R003/recommendations", params={"k": 5}))
        assert _books(http.get("/readers/R003/recommendations", params={"k": 5})) == first
        answer = http.post(
            "/readers/R003/feedback", json={"book_id": first[0], "kind": "not_interested"}
        )
        assert answer.status_code == 201
        after = _books(http.get("/readers/R003/recommendations", params={"k": 5}))
    assert first[0] not in after and len(after) == 5
