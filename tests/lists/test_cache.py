"""The rendered-list cache: one version at a time, the requests it held, when it is full."""

from __future__ import annotations

from recsys.lists.cache import FULL_SHARE, ListCache, Rendered


def _entry(size: int) -> Rendered:
    return Rendered(b"x" * size, "personalized")


def test_a_new_version_empties_the_cache_but_remembers_its_requests() -> None:
    cache: ListCache[Rendered] = ListCache(max_bytes=1_000)
    cache.put("v1", "a", _entry(10))
    cache.put("v1", "b", _entry(10))
    cache.put("v2", "c", _entry(10))
    cache.put("v2", "a", _entry(10))
    assert cache.get("v2", "b") is None and cache.get("v1", "a") is None
    assert len(cache) == 2
    assert cache.recent_keys() == ["a", "b", "c"]  # the version before first, each once
    cache.put("v3", "d", _entry(10))
    assert cache.recent_keys() == ["c", "a", "d"]  # only the one version before


def test_the_cache_is_full_only_for_its_own_version_near_its_size() -> None:
    cache: ListCache[Rendered] = ListCache(max_bytes=1_000)
    cache.put("v1", "a", _entry(int(1_000 * FULL_SHARE) - 1))
    assert not cache.full("v1")
    cache.put("v1", "b", _entry(1))
    assert cache.full("v1")
    assert not cache.full("v2")  # a new version starts empty
    cache.put("v1", "c", _entry(500))  # beyond max_bytes: the oldest leave
    assert cache.get("v1", "a") is None and cache.get("v1", "c") is not None
