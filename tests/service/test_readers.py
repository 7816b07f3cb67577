"""Per-reader recommendations: strategies, exact filters, never a borrowed edition, no id leaks."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from recsys.columns import Columns as C
from recsys.privacy import Pseudonymizer

from .service_library import (
    PSEUDONYM_KEY,
    Trained,
    book_id,
    build_loans,
    newer_loans,
    reader_get,
)
from .service_oracle import FILTER_CASES, eligible_books, expected_length


def borrowed_by(reader: str) -> set[str]:
    loans = build_loans()
    newer = newer_loans()
    return set(loans.loc[loans.reader_id == reader, "book_id"]) | set(
        newer.loc[newer.reader_id == reader, "book_id"]
    )


def test_known_reader_gets_a_personal_list_of_their_subject(client: TestClient) -> None:
    response = reader_get(client, "R105", k=2)
    assert response.status_code == 200
    body = response.json()
    assert body["strategy"] == "personalized"
    assert body["model_version"] == client.get("/version").json()["model_version"]
    assert response.headers["cache-control"] == "private, no-store"
    # R105 borrowed History works 5, 0, 1, 2: the two History works left come first
    assert {item["book_id"] for item in body["items"]} == {book_id(1, 3), book_id(1, 4)}
    assert [item["rank"] for item in body["items"]] == [1, 2]
    first = body["items"][0]
    assert first["title"].startswith("History tale") and first["author"].startswith("Author 1")
    assert first["reason"].startswith("because you borrowed History tale")


def test_loans_newer_than_the_model_are_folded_in_and_excluded(client: TestClient) -> None:
    body = reader_get(client, "R000", k=20).json()
    assert body["strategy"] == "fold-in"
    listed = {item["book_id"] for item in body["items"]}
    # B005 was borrowed after training; B000E is another edition of the borrowed B000
    assert listed.isdisjoint(borrowed_by("R000") | {"B000E"})
    assert book_id(0, 4) in listed


def test_reader_unknown_to_the_model_with_new_loans_is_folded_in(client: TestClient) -> None:
    body = reader_get(client, "R-NEW", k=5).json()
    assert body["strategy"] == "fold-in"
    listed = [item["book_id"] for item in body["items"]]
    assert len(listed) == 5 and not set(listed) & borrowed_by("R-NEW")
    assert listed[0].startswith("B2")  # the Science neighbours of the two Science loans


def test_unknown_reader_gets_popular_books_at_the_library(client: TestClient) -> None:
    response = reader_get(client, "never-borrowed", k=4, library="NOR")
    assert response.status_code == 200
    body = response.json()
    assert body["strategy"] == "fallback:popular"
    assert len(body["items"]) == 4
    assert all(item["reason"].startswith("popular at NOR") for item in body["items"])


@pytest.mark.parametrize("reader", ["R000", "R105", "R-NEW", "never-borrowed"])
def test_filters_are_exact(client: TestClient, trained: Trained, reader: str) -> None:
    """Exactly k items whenever k eligible works exist, never a filtered or borrowed book."""
    for params in FILTER_CASES:
        for k in (3, 12, 40):
            response = reader_get(client, reader, k=k, **params)
            assert response.status_code == 200, response.text
            listed = [item["book_id"] for item in response.json()["items"]]
            eligible = eligible_books(
                trained.catalog, trained.holdings, params, borrowed_by(reader)
            )
            assert set(listed) <= eligible, (params, k)
            expected = expected_length(trained.catalog, eligible, k)
            assert len(listed) == len(set(listed)) == expected, (params, k)


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        ({"k": 0}, ["query", "k"], "greater than or equal to 1"),
        ({"k": 101}, ["query", "k"], "less than or equal to 100"),
        ({"k": "ten"}, ["query", "k"], "valid integer"),
        ({"audience": "elderly"}, ["query", "audience"], "'children', 'young_adult' or 'adult'"),
        ({"library": ""}, ["query", "library"], "at least 1 character"),
        ({"available_only": "perhaps"}, ["query", "available_only"], "valid boolean"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(
    client: TestClient, params: dict[str, object], loc: list[str], message: str
) -> None:
    response = reader_get(client, "SECRET-READER-42", **params)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == loc and message in problem["msg"]
    assert "SECRET-READER-42" not in response.text


def test_an_overlong_reader_id_is_refused_without_echoing_it(client: TestClient) -> None:
    reader = "X" * 129
    response = reader_get(client, reader)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "reader_id"]
    assert reader not in response.text


def test_no_reader_id_in_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    raw = "R105"
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize(raw)
    with caplog.at_level(logging.DEBUG):
        reader_get(client, raw)
        reader_get(client, raw, k=0)
        reader_get(client, "never-borrowed-7")
    # the test's own HTTP client logs its URLs; everything server-side must not
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name not in ("httpx", "httpx2"))
    for secret in (
        raw,
        pseudonym,
        "never-borrowed-7",
        Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("never-borrowed-7"),
    ):
        assert secret not in logged


def test_every_list_shows_titles_and_authors_clean(client: TestClient) -> None:
    """The catalog holds "History tale 3 /" by "Author 10, 1950-....": lists show them clean."""
    bodies = [
        reader_get(client, "R105", k=5).json(),
        reader_get(client, "R-NEW", k=5).json(),
        client.get(f"/books/{book_id(1, 0)}/similar", params={"k": 5}).json(),
        client.get("/popular", params={"k": 5}).json(),
        client.post("/sessions/recommendations", json={"book_ids": [book_id(2, 1)], "k": 5}).json(),
    ]
    items = [item for body in bodies for item in body["items"]]
    assert len(items) == 25
    for item in items:
        assert re.fullmatch(r"\w+ tale \d|Unrelated new book", item["title"]), item["title"]
        assert re.fullmatch(r"Author \d\d|Nobody", item["author"]), item["author"]
        assert not re.search(r" [/:]( |$)|1950", item["reason"] or ""), item["reason"]


def test_no_list_holds_a_work_twice_or_a_work_the_reader_borrowed(
    client: TestClient, trained: Trained
) -> None:
    catalog = trained.catalog
    works = dict(
        zip(catalog[C.BOOK_ID], catalog[C.WORK_ID].fillna(catalog[C.BOOK_ID]), strict=True)
    )
    for reader in sorted(set(build_loans()[C.READER_ID]) | {"R-NEW"}):
        listed = [
            works[item["book_id"]] for item in reader_get(client, reader, k=30).json()["items"]
        ]
        assert len(listed) == len(set(listed)), reader
        assert not {works[b] for b in borrowed_by(reader)} & set(listed), reader
    for book in works:
        body = client.get(f"/books/{book}/similar", params={"k": 30}).json()
        listed = [works[item["book_id"]] for item in body["items"]]
        assert len(listed) == len(set(listed)) and works[book] not in listed, book
