"""One cache of rendered lists per list kind, for one served model and one curation version.

A list is a function of the served model, the librarians' rules and the request (for a reader,
also their consent answer and loans, which the entry records as a fingerprint). So an entry is
kept under its request until the served model or the curation version changes; then the whole
cache empties at once, remembering which requests it held (`recent_keys`: what to make again
first, `recsys.service.warm`). Entries leave oldest first beyond `max_bytes`. The front door and the
routes share these caches, so a list is rendered once whoever is asked first.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

#: Rendered bytes kept per cache (a list of 10 renders to about 1.6 kB).
CACHE_BYTES = 64 * 1024 * 1024
#: The share of `max_bytes` from which a cache counts as full (room for one more list left).
FULL_SHARE = 0.98


@dataclass(frozen=True)
class Rendered:
    """A rendered list: its body, strategy (for the metrics) and, for a public list, its ETag;
    for a personal one, the fingerprint of the reader's rows it was made from."""

    body: bytes
    strategy: str
    etag: str = ""
    fingerprint: Hashable = None
    standing_in: bool = False  # made by the previous model while the served one computes it


E = TypeVar("E", bound=Rendered)


class ListCache(Generic[E]):
    """Rendered lists of one kind, valid for one `version` (served model, curation version)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._version: Hashable = None
        self._entries: dict[Hashable, E] = {}
        self._earlier: tuple[Hashable, ...] = ()  # the keys of the version before
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: Hashable, key: Hashable) -> E | None:
        """The entry under `key` if it was made for `version`."""
        if version != self._version:
            return None
        return self._entries.get(key)

    def put(self, version: Hashable, key: Hashable, entry: E) -> None:
        """Keep `entry`; a new `version` first drops every entry of the old one."""
        with self._lock:
            if version != self._version:
                self._earlier = tuple(self._entries)
                self._version, self._entries, self._bytes = version, {}, 0
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while self._bytes > self.max_bytes and self._entries:
                dropped = self._entries.pop(next(iter(self._entries)))
                self._bytes -= len(dropped.body)

    def full(self, version: Hashable) -> bool:
        """Whether one more entry for `version` would push out an older one."""
        return version == self._version and self._bytes >= self.max_bytes * FULL_SHARE

    def recent_keys(self) -> list[Hashable]:
        """The keys of the entries of the version before, then of this one, oldest first
        within each (each once)."""
        with self._lock:
            return list(dict.fromkeys((*self._earlier, *self._entries)))


class ListCaches:
    """The caches of the service's list kinds."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.reader: ListCache[Rendered] = ListCache(max_bytes)
        self.book: ListCache[Rendered] = ListCache(max_bytes)
        self.popular: ListCache[Rendered] = ListCache(max_bytes)
        self.reading_list: ListCache[Rendered] = ListCache(max_bytes)
