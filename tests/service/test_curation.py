"""Librarians' rules through the admin API: each kind takes effect in every list kind from the
next request on, expires on time, keeps its scope and its audit trail; reading lists and book-club
suggestions through the API."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from .service_library import ADMIN_KEY, READER_KEY, book_id, reader_get, wait_until

ADMIN = {"X-API-Key": ADMIN_KEY}
READER = {"X-API-Key": READER_KEY}
K = 5
PICK = "NEW1"  # nobody borrowed it and no list would show it on its own


def every_list(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    """The items of one request of every list kind (the reading list `tales` must exist)."""
    answers = {
        "reader": reader_get(client, "R105", k=K),
        "reader (route)": reader_get(client, "R105", k=K, route="fastapi"),
        "fold-in": reader_get(client, "R-NEW", k=K),
        "book": client.get(f"/books/{book_id(0, 1)}/similar", params={"k": K}),
        "session": client.post(
            "/sessions/recommendations", json={"book_ids": [book_id(0, 1)], "k": K}
        ),
        "popular": client.get("/popular", params={"k": K}),
        "reading list": client.get("/lists/tales/also-borrowed", params={"k": K}),
        "group": client.post(
            "/groups/recommendations", json={"reader_ids": ["R105", "R211"], "k": K}, headers=READER
        ),
    }
    for kind, response in answers.items():
        assert response.status_code == 200, (kind, response.text)
    return {kind: response.json()["items"] for kind, response in answers.items()}


def add_rule(client: TestClient, **rule: object) -> int:
    response = client.post("/admin/curation/rules", json={"reason": "test", **rule}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return int(response.json()["rule_id"])


def remove_rule(client: TestClient, rule_id: int) -> None:
    response = client.delete(
        f"/admin/curation/rules/{rule_id}", params={"reason": "done"}, headers=ADMIN
    )
    assert response.status_code == 204, response.text


@pytest.fixture
def curated(fresh_client: TestClient) -> TestClient:
    client = fresh_client
    response = client.put(
        "/admin/reading-lists/tales",
        json={"title": "Tales", "books": [{"book_id": book_id(1, 0)}, {"book_id": book_id(1, 1)}]},
        headers=ADMIN,
    )
    assert response.status_code == 204, response.text
    wait_until(lambda: client.app.state.store.served.readers.complete, what="reader lists")  # type: ignore[attr-defined]
    return client


def test_a_pin_takes_the_top_of_every_list_at_once_and_goes_when_removed(
    curated: TestClient,
) -> None:
    client = curated
    before = every_list(client)
    assert all(PICK not in [i["book_id"] for i in items] for items in before.values())
    rule = add_rule(client, kind="pin", book_id=PICK, position=1)
    for kind, items in every_list(client).items():
        assert items[0]["book_id"] == PICK, kind
        assert items[0]["reason"] == "librarian's pick", kind
        assert len(items) == K, kind
    remove_rule(client, rule)
    assert every_list(client) == before


def test_a_suppressed_book_never_appears_anywhere(curated: TestClient) -> None:
    client = curated
    before = every_list(client)
    for kind, items in before.items():
        top = items[0]["book_id"]
        rule = add_rule(client, kind="suppress", book_id=top)
        after = every_list(client)
        assert all(top not in [i["book_id"] for i in shown] for shown in after.values()), kind
        assert all(len(shown) == K for shown in after.values())
        remove_rule(client, rule)


def test_bury_and_boost_reorder_the_models_lists(curated: TestClient) -> None:
    client = curated
    before = every_list(client)
    for kind in ("reader", "book", "session", "popular"):
        top, last = before[kind][0]["book_id"], before[kind][-1]["book_id"]
        rule = add_rule(client, kind="bury", book_id=top, factor=0.001)
        assert every_list(client)[kind][0]["book_id"] != top, kind
        remove_rule(client, rule)
        rule = add_rule(client, kind="boost", book_id=last, factor=1000)
        assert every_list(client)[kind][0]["book_id"] == last, kind
        remove_rule(client, rule)


def test_never_paired_books_are_not_linked(curated: TestClient) -> None:
    client = curated
    anchor = book_id(0, 1)
    page = client.get(f"/books/{anchor}/similar", params={"k": K}).json()["items"]
    partner = page[0]["book_id"]
    add_rule(client, kind="never_pair", book_id=partner, anchor_id=anchor)
    page = client.get(f"/books/{anchor}/similar", params={"k": K}).json()["items"]
    assert partner not in [i["book_id"] for i in page]
    session = client.post("/sessions/recommendations", json={"book_ids": [anchor], "k": K})
    assert partner not in [i["book_id"] for i in session.json()["items"]]
    # a reader who borrowed the anchor is never offered the partner either
    readers = [f"R0{r:02d}" for r in range(12)]
    for reader in readers:
        shown = [i["book_id"] for i in reader_get(client, reader, k=K).json()["items"]]
        assert partner not in shown or reader not in _borrowers(anchor), reader


def _borrowers(book: str) -> set[str]:
    """Readers of the tiny library who borrowed `book` (see `service_library.build_loans`)."""
    subject, n = int(book[1]), int(book[2:4])
    return {f"R{subject}{r:02d}" for r in range(12) if n in {(r + j) % 6 for j in range(4)}}


def test_a_staff_pick_takes_its_labelled_slot(curated: TestClient) -> None:
    client = curated
    add_rule(client, kind="staff_pick", book_id=PICK, position=2, label="Our summer read")
    items = reader_get(client, "R105", k=K).json()["items"]
    assert items[1]["book_id"] == PICK
    assert items[1]["reason"] == "staff pick: Our summer read"


def test_a_pin_in_one_books_list_stays_there(curated: TestClient) -> None:
    client = curated
    anchor, other = book_id(0, 1), book_id(2, 1)
    add_rule(client, kind="pin", book_id=PICK, position=3, anchor_id=anchor)
    assert client.get(f"/books/{anchor}/similar").json()["items"][2]["book_id"] == PICK
    assert PICK not in [i["book_id"] for i in client.get(f"/books/{other}/similar").json()["items"]]


def test_a_rule_scoped_to_a_branch_holds_only_there(curated: TestClient) -> None:
    client = curated
    add_rule(client, kind="pin", book_id=PICK, position=1, library_id="CEN")
    at_cen = client.get("/popular", params={"k": K, "library": "CEN"}).json()["items"]
    at_nor = client.get("/popular", params={"k": K, "library": "NOR"}).json()["items"]
    everywhere = client.get("/popular", params={"k": K}).json()["items"]
    assert at_cen[0]["book_id"] == PICK
    assert PICK not in [i["book_id"] for i in at_nor + everywhere]


def test_a_rule_starts_and_expires_on_time(curated: TestClient) -> None:
    client = curated
    now = time.time()
    starts, expires = now + 1.5, now + 3.0
    add_rule(
        client,
        kind="pin",
        book_id=PICK,
        position=1,
        starts_at=datetime.fromtimestamp(starts, UTC).isoformat(),
        expires_at=datetime.fromtimestamp(expires, UTC).isoformat(),
    )

    def top() -> str:
        return str(client.get("/popular", params={"k": K}).json()["items"][0]["book_id"])

    assert time.time() < starts and top() != PICK
    wait_until(lambda: top() == PICK, what="the rule to start")
    assert time.time() >= int(starts)
    wait_until(lambda: top() != PICK, what="the rule to expire")
    assert time.time() >= int(expires)


def test_a_public_lists_etag_changes_with_the_rules(curated: TestClient) -> None:
    client = curated
    path = f"/books/{book_id(0, 1)}/similar"
    etag = client.get(path).headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    add_rule(client, kind="suppress", book_id=PICK)
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_audit_trail_keeps_who_when_and_why(curated: TestClient) -> None:
    client = curated
    rule = add_rule(client, kind="suppress", book_id=PICK, reason="damaged copy")
    remove_rule(client, rule)
    listed = client.get("/admin/curation/rules", headers=ADMIN).json()["rules"]
    assert listed == []
    trail = client.get(
        "/admin/curation/rules", params={"include_removed": True}, headers=ADMIN
    ).json()["rules"]
    (made,) = trail
    assert made["reason"] == "damaged copy"
    assert made["created_by"].startswith("key-") and ADMIN_KEY not in str(trail)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "pin", "book_id": PICK}, "position must be a slot from 1 to 100"),
        ({"kind": "boost", "book_id": PICK, "factor": 0.5}, "factor must be a number above 1"),
        ({"kind": "bury", "book_id": PICK, "factor": 2}, "between 0 and 1 for a bury"),
        ({"kind": "never_pair", "book_id": PICK}, "anchor_id is required"),
        ({"kind": "never_pair", "book_id": PICK, "anchor_id": PICK}, "must differ from book_id"),
        ({"kind": "suppress", "book_id": PICK, "label": "x"}, "label is only for staff_pick"),
    ],
)
def test_a_bad_rule_is_refused_with_what_is_wrong(
    fresh_client: TestClient, rule: dict[str, object], message: str
) -> None:
    response = fresh_client.post(
        "/admin/curation/rules", json={"reason": "test", **rule}, headers=ADMIN
    )
    assert response.status_code == 422 and message in response.json()["detail"]


def test_curation_needs_an_admin_key(fresh_client: TestClient) -> None:
    rule = {"kind": "suppress", "book_id": PICK, "reason": "x"}
    assert fresh_client.post("/admin/curation/rules", json=rule).status_code == 401
    assert fresh_client.post("/admin/curation/rules", json=rule, headers=READER).status_code == 403


# ------------------------------------------------------------------------ reading lists
def test_reading_lists_can_be_browsed_and_continued(curated: TestClient) -> None:
    client = curated
    listed = client.get("/lists").json()["lists"]
    assert [(r["list_id"], r["books"]) for r in listed] == [("tales", 2)]
    shown = client.get("/lists/tales").json()
    assert [i["book_id"] for i in shown["items"]] == [book_id(1, 0), book_id(1, 1)]
    assert shown["items"][0]["title"] == "History tale 0"
    neighbours = client.get("/lists/tales/also-borrowed", params={"k": K}).json()
    shown_ids = [i["book_id"] for i in neighbours["items"]]
    assert not {book_id(1, 0), book_id(1, 1)} & set(shown_ids)
    assert neighbours["strategy"] == "reading-list"
    # R100 borrowed both books of the list (History 0 to 3), R102 neither (History 2 to 5)
    first = client.get("/readers/R100/lists/tales/next", headers=READER).json()
    assert [i["book_id"] for i in first["items"]] == []
    fresh = client.get("/readers/R102/lists/tales/next", headers=READER).json()
    assert [i["book_id"] for i in fresh["items"]] == [book_id(1, 0), book_id(1, 1)]
    assert client.get("/lists/nothing").status_code == 404
    assert client.delete("/admin/reading-lists/tales", headers=ADMIN).status_code == 204
    assert client.get("/lists").json()["lists"] == []


# ------------------------------------------------------------------------ book clubs
def test_book_club_suggestions_avoid_every_members_books(curated: TestClient) -> None:
    client = curated
    members = ["R100", "R101", "R102"]
    response = client.post(
        "/groups/recommendations", json={"reader_ids": members, "k": K}, headers=READER
    )
    body = response.json()
    assert response.status_code == 200 and body["members_personalized"] == 3
    shown = {i["book_id"] for i in body["items"]}
    read = set().union(*(_books_of(m) for m in members))
    works = {b.rstrip("E") for b in shown}
    assert len(body["items"]) == K and not works & read
    assert not any(m in response.text for m in members)


def _books_of(reader: str) -> set[str]:
    subject, r = int(reader[1]), int(reader[2:])
    return {book_id(subject, (r + j) % 6) for j in range(4)}


def test_book_club_suggestions_need_enough_copies(curated: TestClient) -> None:
    client = curated

    def ask(**extra: object) -> list[str]:
        body = {"reader_ids": ["R100"], "k": K, **extra}
        response = client.post("/groups/recommendations", json=body, headers=READER)
        assert response.status_code == 200
        return [i["book_id"] for i in response.json()["items"]]

    assert ask(min_copies=2, library="CEN")  # CEN holds two copies of everything
    assert ask(min_copies=3, library="CEN") == []  # and never three
    assert client.post("/groups/recommendations", json={"k": K}, headers=READER).status_code == 422


def test_book_club_suggestions_from_past_reads_alone(curated: TestClient) -> None:
    client = curated
    past = [book_id(2, 0), book_id(2, 1)]
    response = client.post(
        "/groups/recommendations", json={"past_reads": past, "k": K}, headers=READER
    )
    items = response.json()["items"]
    assert response.status_code == 200 and len(items) == K
    assert not set(past) & {i["book_id"] for i in items}
    assert items[0]["reason"] == "suits the group's reading"


def test_a_member_without_consent_is_not_used(curated: TestClient, library: Engine) -> None:
    from recsys.consent import set_consent
    from recsys.privacy import Pseudonymizer

    from .service_library import PSEUDONYM_KEY

    client = curated
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R100")
    set_consent(library, reader_id=pseudonym, consented=False, at=int(time.time()))
    body = client.post(
        "/groups/recommendations", json={"reader_ids": ["R100", "R201"], "k": K}, headers=READER
    ).json()
    assert body["members_personalized"] == 1


def test_a_rule_number_beyond_the_stores_keys_is_a_422(fresh_client: TestClient) -> None:
    response = fresh_client.delete(
        "/admin/curation/rules/11571774772122335232", params={"reason": "x"}, headers=ADMIN
    )
    assert response.status_code == 422
