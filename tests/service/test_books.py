"""Per-book lists: neighbours, fallbacks, exact filters, 404, and shared-cache headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .service_library import Trained, book_id
from .service_oracle import FILTER_CASES, eligible_books, expected_length


def similar(client: TestClient, book: str, **params: object):
    return client.get(f"/books/{book}/similar", params=params)


def test_neighbours_come_from_readers_of_the_book(client: TestClient) -> None:
    response = similar(client, book_id(2, 3), k=5)
    assert response.status_code == 200
    body = response.json()
    assert body["strategy"] == "collaborative" and body["book_id"] == book_id(2, 3)
    listed = [item["book_id"] for item in body["items"]]
    assert set(listed) == {book_id(2, n) for n in (0, 1, 2, 4, 5)}
    # the reason names the signal: these readers borrowed the books in order
    assert body["items"][0]["reason"] == "readers of Science tale 3 borrowed this next"
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_never_the_book_itself_nor_another_edition(client: TestClient) -> None:
    listed = {item["book_id"] for item in similar(client, "B000E", k=40).json()["items"]}
    assert listed.isdisjoint({"B000", "B000E"})


def test_a_book_nobody_borrowed_still_gets_k_books(client: TestClient) -> None:
    body = similar(client, "NEW1", k=7).json()
    assert body["strategy"] in {"content", "fallback:popular"}
    assert len(body["items"]) == 7 and "NEW1" not in {i["book_id"] for i in body["items"]}


def test_unknown_book_is_404_with_a_message(client: TestClient) -> None:
    response = similar(client, "NO-SUCH-BOOK")
    assert response.status_code == 404
    assert response.json() == {"detail": "book 'NO-SUCH-BOOK' is not in the served catalog"}


@pytest.mark.parametrize("book", [book_id(0, 0), book_id(3, 5), "NEW1"])
def test_filters_are_exact(client: TestClient, trained: Trained, book: str) -> None:
    for params in FILTER_CASES:
        for k in (3, 12, 40):
            response = similar(client, book, k=k, **params)
            assert response.status_code == 200, response.text
            listed = [item["book_id"] for item in response.json()["items"]]
            eligible = eligible_books(trained.catalog, trained.holdings, params, {book})
            assert set(listed) <= eligible, (params, k)
            expected = expected_length(trained.catalog, eligible, k)
            assert len(listed) == len(set(listed)) == expected, (params, k)


def test_etag_and_cache_control_and_304(client: TestClient) -> None:
    first = similar(client, book_id(1, 1), k=4)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=300"
    version = client.get("/version").json()["model_version"]
    assert etag.startswith(f'"{version}-')
    again = client.get(
        f"/books/{book_id(1, 1)}/similar", params={"k": 4}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = similar(client, book_id(1, 1), k=5)
    assert other.headers["etag"] != etag
    stale = client.get(
        f"/books/{book_id(1, 1)}/similar",
        params={"k": 4},
        headers={"If-None-Match": '"old-version-0"'},
    )
    assert stale.status_code == 200 and stale.json() == first.json()


def test_bad_k_and_overlong_exclude_are_422(client: TestClient) -> None:
    assert similar(client, book_id(0, 1), k=0).status_code == 422
    response = similar(client, book_id(0, 1), exclude="x" * 200)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["query", "exclude"],
            "msg": "String should have at most 128 characters",
            "type": "string_too_long",
        }
    ]
