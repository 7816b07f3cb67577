"""Public lists at the front door and their cache: the routes' answers, 304s, metrics, expiry."""

from __future__ import annotations

from fastapi.testclient import TestClient

from recsys.config import Settings
from recsys.lists.cache import ListCache
from recsys.lists.query import parse_query

from .service_library import Trained, metric_value, publish_model, wait_until

SIMILAR = "/books/B000/similar"
REPLAYED_HEADERS = ("etag", "cache-control", "content-type", "content-length")


class _Both:
    """The per-book and popular caches together."""

    def __init__(self, client: TestClient) -> None:
        caches = client.app.state.caches  # type: ignore[attr-defined]
        self.caches: list[ListCache] = [caches.book, caches.popular]

    def __len__(self) -> int:
        return sum(len(cache) for cache in self.caches)


def cache_of(client: TestClient) -> _Both:
    return _Both(client)


def test_a_replayed_list_is_the_routes_answer(fresh_client: TestClient) -> None:
    client = fresh_client
    for path, params in ((SIMILAR, {"k": 4, "audience": "adult"}), ("/popular", {"k": 3})):
        before = len(cache_of(client))
        first = client.get(path, params=params)
        assert first.status_code == 200 and len(cache_of(client)) == before + 1
        again = client.get(path, params=params)
        assert len(cache_of(client)) == before + 1  # answered from the cache
        assert again.content == first.content
        assert [again.headers[h] for h in REPLAYED_HEADERS] == [
            first.headers[h] for h in REPLAYED_HEADERS
        ]


def test_parameter_order_does_not_matter_but_repeats_keep_theirs() -> None:
    assert parse_query("period=month&k=3", ["k", "period"]) == parse_query(
        "k=3&period=month", ["k", "period"]
    )
    order = parse_query("exclude=b&k=3&exclude=a", ["k", "exclude"]).filters.exclude
    assert order == ("b", "a")
    assert parse_query("k=3&%65xclude=b", ["k", "exclude"]).filters.exclude == ("b",)


def test_a_cached_list_answers_304_for_its_etag(fresh_client: TestClient) -> None:
    client = fresh_client
    etag = client.get(SIMILAR, params={"k": 5}).headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(SIMILAR, params={"k": 5}, headers={"If-None-Match": header})
        assert response.status_code == 304 and response.content == b""
        assert dict(response.headers) == {
            "etag": etag,
            "cache-control": "public, max-age=300",
        }
    stale = client.get(SIMILAR, params={"k": 5}, headers={"If-None-Match": '"old-1"'})
    assert stale.status_code == 200 and stale.headers["etag"] == etag


def test_replayed_lists_are_counted_in_metrics(fresh_client: TestClient) -> None:
    client = fresh_client
    for _ in range(3):
        assert client.get(SIMILAR).status_code == 200
    client.get(SIMILAR, headers={"If-None-Match": client.get(SIMILAR).headers["etag"]})
    text = client.get("/metrics").text
    for status, count in (("200", 4), ("304", 1)):
        labels = {"route": "/books/{book_id}/similar", "method": "GET", "status": status}
        assert metric_value(text, "recsys_http_requests_total", **labels) == count
    strategy = {"endpoint": "similar", "strategy": "collaborative"}
    assert metric_value(text, "recsys_recommendations_total", **strategy) == 4


def test_errors_are_not_stored(fresh_client: TestClient) -> None:
    client = fresh_client
    for _ in range(2):
        assert client.get("/books/NO-SUCH-BOOK/similar").status_code == 404
        assert client.get(SIMILAR, params={"k": 0}).status_code == 422
    assert len(cache_of(client)) == 0


def test_a_new_model_empties_the_cache(
    fresh_client: TestClient, service_settings: Settings, trained: Trained
) -> None:
    client = fresh_client
    old = client.get(SIMILAR).json()["model_version"]
    assert client.get(SIMILAR).json()["model_version"] == old  # stored, then replayed
    run_id = publish_model(service_settings.models_dir, trained)
    wait_until(
        lambda: client.get("/version").json()["model_version"] == run_id,
        what=f"the service to serve {run_id}",
    )
    response = client.get(SIMILAR)
    assert response.json()["model_version"] == run_id
    assert response.headers["etag"].startswith(f'"{run_id}-')
    assert len(cache_of(client)) == 1
