"""Popular lists (distinct readers per period and branch) and anonymous-session suggestions."""

from __future__ import annotations

import itertools

import pandas as pd
from fastapi.testclient import TestClient

from recsys.columns import Columns as C

from .service_library import DAY, Trained, book_id, build_catalog, build_loans, newer_loans


def works_of(books: pd.Index) -> pd.Series:
    """Each book's work (its own id where the catalog names none)."""
    catalog = build_catalog().set_index(C.BOOK_ID)
    return catalog[C.WORK_ID].fillna(catalog.index.to_series()).reindex(books)


def reader_counts(library: str | None, days: int | None) -> pd.Series:
    """Per book: the distinct readers of each record of its work with at least k of them,
    added up (every record of a work holds the work's sum)."""
    loans = pd.concat([build_loans(), newer_loans()])
    if days is not None:
        loans = loans[loans[C.TIMESTAMP] > loans[C.TIMESTAMP].max() - days * DAY]
    if library is not None:
        loans = loans[loans[C.LIBRARY_ID] == library]
    counts = loans.groupby(C.BOOK_ID)[C.READER_ID].nunique()
    counts = counts[counts >= 2]  # the tests' min_pair_support
    work_of = works_of(build_catalog()[C.BOOK_ID])
    per_work = counts.groupby(work_of.reindex(counts.index)).sum()
    return pd.Series(per_work.reindex(work_of).to_numpy(), index=work_of.index).dropna()


def test_popular_ranks_by_distinct_readers(client: TestClient) -> None:
    body = client.get("/popular", params={"k": 5, "period": "all"}).json()
    counts = reader_counts(None, None)
    per_work = counts.groupby(works_of(counts.index)).first()
    assert body["strategy"] == "popular" and body["period"] == "all"
    assert [item["score"] for item in body["items"]] == sorted(per_work, reverse=True)[:5]
    assert all(counts[item["book_id"]] == item["score"] for item in body["items"])


def test_popular_at_a_branch_in_a_period(client: TestClient) -> None:
    body = client.get("/popular", params={"k": 3, "period": "year", "library": "NOR"}).json()
    counts = reader_counts("NOR", 365)
    per_work = counts.groupby(works_of(counts.index)).first()
    assert len(per_work) >= 3
    assert [item["score"] for item in body["items"]] == sorted(per_work, reverse=True)[:3]
    assert all(counts[item["book_id"]] == item["score"] for item in body["items"])
    assert body["items"][0]["reason"] == "popular at NOR this year"
    # within the last month no book has two readers: the list is the model's popularity
    month = client.get("/popular", params={"k": 3, "period": "month", "library": "NOR"}).json()
    assert reader_counts("NOR", 30).empty
    assert [item["score"] for item in month["items"]] == [0.0, 0.0, 0.0]


def test_popular_pads_with_the_models_popularity_and_respects_audience(
    client: TestClient, trained: Trained
) -> None:
    body = client.get("/popular", params={"k": 8, "period": "week", "audience": "children"}).json()
    children = set(trained.catalog.loc[trained.catalog[C.AUDIENCE] == "children", C.BOOK_ID])
    assert len(body["items"]) == 8
    assert {item["book_id"] for item in body["items"]} <= children


def test_popular_lists_one_record_per_work(client: TestClient, trained: Trained) -> None:
    catalog = trained.catalog
    works = dict(
        zip(catalog[C.BOOK_ID], catalog[C.WORK_ID].fillna(catalog[C.BOOK_ID]), strict=True)
    )
    for period in ("all", "week"):
        body = client.get("/popular", params={"k": 40, "period": period}).json()
        listed = [works[item["book_id"]] for item in body["items"]]
        assert len(listed) == len(set(works.values())) == len(set(listed)), period


def test_a_session_lists_one_record_per_work(client: TestClient, trained: Trained) -> None:
    catalog = trained.catalog
    works = dict(
        zip(catalog[C.BOOK_ID], catalog[C.WORK_ID].fillna(catalog[C.BOOK_ID]), strict=True)
    )
    books = list(works)
    for first, second in itertools.combinations(books, 2):
        body = client.post(
            "/sessions/recommendations", json={"book_ids": [first, second], "k": 30}
        ).json()
        listed = [works[item["book_id"]] for item in body["items"]]
        assert len(listed) == len(set(listed)), (first, second)


def test_popular_is_cacheable_and_validates_period(client: TestClient) -> None:
    response = client.get("/popular")
    assert response.headers["cache-control"].startswith("public")
    assert (
        client.get("/popular", headers={"If-None-Match": response.headers["etag"]}).status_code
        == 304
    )
    bad = client.get("/popular", params={"period": "decade"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "period"]


def test_session_suggests_neighbours_of_viewed_books(client: TestClient) -> None:
    response = client.post(
        "/sessions/recommendations",
        json={"book_ids": [book_id(3, 0), book_id(3, 1), "UNKNOWN"], "k": 4},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["strategy"] == "session"
    assert response.headers["cache-control"] == "private, no-store"
    listed = [item["book_id"] for item in body["items"]]
    assert len(listed) == 4 and set(listed) <= {book_id(3, n) for n in range(2, 6)}
    assert body["items"][0]["reason"].endswith("viewed in this session")


def test_session_never_lists_a_viewed_edition_and_filters_exactly(
    client: TestClient, trained: Trained
) -> None:
    body = client.post(
        "/sessions/recommendations",
        json={"book_ids": ["B000"], "k": 30, "format": "book", "library": "NOR"},
    ).json()
    listed = {item["book_id"] for item in body["items"]}
    nor = set(trained.holdings.loc[trained.holdings[C.LIBRARY_ID] == "NOR", C.BOOK_ID])
    assert listed.isdisjoint({"B000", "B000E"}) and listed <= nor
    assert all(not b.endswith("E") for b in listed)


def test_empty_session_falls_back_to_popular(client: TestClient) -> None:
    body = client.post("/sessions/recommendations", json={"book_ids": []}).json()
    assert body["strategy"] == "fallback:popular" and len(body["items"]) == 10


def test_session_input_is_validated(client: TestClient) -> None:
    too_many = client.post("/sessions/recommendations", json={"book_ids": ["B000"] * 201})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "book_ids"]
    extra = client.post("/sessions/recommendations", json={"book_ids": [], "reader": "R1"})
    assert extra.status_code == 422 and "R1" not in extra.text
    assert (
        client.post(
            "/sessions/recommendations",
            content=b"{oops",
            headers={"content-type": "application/json"},
        ).status_code
        == 422
    )
