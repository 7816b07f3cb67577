"""Readers' default lists rendered once per served bundle and rules, in files every worker maps.

A reader's first ask of their list costs a read of their state and a render, many times the
answer of a kept list, and each worker's cache (`recsys.lists.cache`) would make and keep its
own copy. So one worker of the service renders every listed reader's default list once
(`recsys.service.warm`) and writes them under the run's folder, ``rendered/<key>/``; every
worker maps those files and replays a reader's bytes instead of rendering them.

A list is a function of the served bundle (its run and manifest), the librarians' rules, the
popular lists the worker counted, the consent rule, the query and the reader's state rows
(`recsys.db.reader_state`). `lists_key` names all but the rows; each list is stored with a
digest of the rows it was made from (`state_fingerprint`) and replayed only to a reader whose
rows have that digest now, so a reader whose state changed since (an objection, an erasure, a
new loan, feedback, an exclusion) gets a list made from the new rows. The files hold rendered
bodies indexed by the run's reader positions and digests, no pseudonym; a purge of the run
deletes them (`recsys.artifacts.purge_bundle`), and a writer checks, before its folder appears,
that the run was not purged meanwhile.

Files: ``bodies.bin`` (the bodies one after another), ``spans.npy`` (where each reader's body
starts and ends; equal: no list), ``fingerprints.npy``, ``strategies.npy`` and ``header.json``
(the key, the reader count, the strategy names). A writer holds an exclusive lock on
``<key>.lock`` and fills a temporary folder that one rename makes the key's folder, so two
workers starting at once write it once and a worker sees the whole folder or none. Once placed,
a folder is never changed, and the folders of other keys in the run are deleted (a worker
still mapping one keeps its pages until it lets go).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import mmap
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from recsys.array_files import load_arrays, save_arrays
from recsys.artifacts import RENDERED_DIR, manifest_sha256
from recsys.consent import ConsentRule
from recsys.lists.cache import Rendered
from recsys.lists.query import FILTERED, ListQuery, parse_query
from recsys.lists.served import ServedModel

logger = logging.getLogger(__name__)

FINGERPRINT_BYTES = 16
HEADER = "header.json"
BODIES = "bodies.bin"
SPANS, FINGERPRINTS, STRATEGIES = "spans", "fingerprints", "strategies"
_TEMPORARY = ".tmp-"
#: The query rendered ahead: a reader's list with no parameters, as a catalog page asks for it.
DEFAULT_QUERY: ListQuery = parse_query(b"", FILTERED)


def state_fingerprint(rows: Sequence[Sequence[Any]]) -> bytes:
    """A digest of a reader's state rows that every process computes alike (Python's `hash`
    of a string differs per process), whatever order the store returned the rows in."""
    text = "\n".join(sorted(repr(tuple(row)) for row in rows))
    return hashlib.blake2b(text.encode(), digest_size=FINGERPRINT_BYTES).digest()


def lists_key(
    served: ServedModel, curation_version: str, consent: ConsentRule, query: ListQuery
) -> str:
    """Names what a reader's rendered list is made from besides their rows."""
    parts = (
        served.version,
        served.bundle.manifest_sha256,
        curation_version,
        served.popular.digest,
        f"{consent.mode}|{consent.minors_mode}|{sorted(consent.minors)}",
        repr(query),
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


class RenderedLists:
    """One placed folder of rendered lists, mapped: every worker shares its pages."""

    def __init__(self, folder: Path, key: str, readers: int) -> None:
        header = json.loads((folder / HEADER).read_text())
        if header["key"] != key or header["readers"] != readers:
            raise ValueError(f"rendered lists in {folder} were made for other lists")
        arrays = load_arrays(folder)
        self.key = key
        self._spans, self._fingerprints = arrays[SPANS], arrays[FINGERPRINTS]
        self._strategies, self._names = arrays[STRATEGIES], list(header["strategies"])
        #: readers with a list here (the others are rendered when they ask)
        self.listed = int(np.count_nonzero(self._spans[:, 1] > self._spans[:, 0]))
        if self._spans.shape != (readers, 2) or self._fingerprints.shape != (
            readers,
            FINGERPRINT_BYTES,
        ):
            raise ValueError(f"rendered lists in {folder} do not have {readers} readers")
        self._bodies: mmap.mmap | bytes = b""
        with (folder / BODIES).open("rb") as handle:
            if os.fstat(handle.fileno()).st_size:
                self._bodies = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    @classmethod
    def open(cls, run_path: Path, key: str, readers: int) -> RenderedLists | None:
        """The run's rendered lists under `key`, or None when none are placed (or unreadable)."""
        folder = run_path / RENDERED_DIR / key
        if not (folder / HEADER).is_file():
            return None
        try:
            return cls(folder, key, readers)
        except (OSError, ValueError, KeyError) as error:
            logger.warning("rendered lists not used: %s", type(error).__name__)
            return None

    def get(self, position: int, fingerprint: bytes) -> Rendered | None:
        """The list of the reader at `position` if it was made from rows with `fingerprint`."""
        start, end = self._spans[position].tolist()
        if start == end or self._fingerprints[position].tobytes() != fingerprint:
            return None
        strategy = self._names[self._strategies[position]]
        return Rendered(self._bodies[start:end], strategy, fingerprint=fingerprint)


class RenderedListsWriter:
    """Writes one key's folder: `claim`, `add` each reader's list, then `finish`."""

    def __init__(self, run_path: Path, key: str, readers: int, lock: IO[bytes]) -> None:
        self._run_path, self._key, self._lock = run_path, key, lock
        self._stamp = manifest_sha256(run_path)
        root = run_path / RENDERED_DIR
        for stale in root.glob(f"{_TEMPORARY}{key}-*"):  # a writer that died
            shutil.rmtree(stale, ignore_errors=True)
        self._folder = root / f"{_TEMPORARY}{key}-{os.getpid()}"
        self._folder.mkdir()
        self._bodies = (self._folder / BODIES).open("wb")
        self._written = 0
        self._spans = np.zeros((readers, 2), dtype=np.int64)
        self._fingerprints = np.zeros((readers, FINGERPRINT_BYTES), dtype=np.uint8)
        self._strategies = np.zeros(readers, dtype=np.uint8)
        self._names: list[str] = []
        self.added = 0

    @classmethod
    def claim(cls, run_path: Path, key: str, readers: int) -> RenderedListsWriter | None:
        """A writer of the key's folder, or None when it is placed already or another process
        is writing it."""
        root = run_path / RENDERED_DIR
        root.mkdir(exist_ok=True)
        lock = (root / f"{key}.lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        if (root / key / HEADER).is_file():
            lock.close()
            return None
        try:
            return cls(run_path, key, readers, lock)
        except OSError:
            lock.close()
            raise

    def add(self, position: int, rendered: Rendered, fingerprint: bytes) -> None:
        """Keep the list of the reader at `position`, made from rows with `fingerprint`."""
        if rendered.strategy not in self._names:
            self._names.append(rendered.strategy)
        self._bodies.write(rendered.body)
        self._spans[position] = (self._written, self._written + len(rendered.body))
        self._written += len(rendered.body)
        self._fingerprints[position] = np.frombuffer(fingerprint, dtype=np.uint8)
        self._strategies[position] = self._names.index(rendered.strategy)
        self.added += 1

    def finish(self) -> RenderedLists | None:
        """Place the folder (unless the run was purged meanwhile), delete the run's folders
        of other keys, and open it."""
        try:
            self._bodies.close()
            save_arrays(
                self._folder,
                {
                    SPANS: self._spans,
                    FINGERPRINTS: self._fingerprints,
                    STRATEGIES: self._strategies,
                },
            )
            header = {"key": self._key, "readers": len(self._spans), "strategies": self._names}
            (self._folder / HEADER).write_text(json.dumps(header))
            if manifest_sha256(self._run_path) != self._stamp:
                return None  # purged: these lists may hold an erased reader's
            root = self._run_path / RENDERED_DIR
            with contextlib.suppress(OSError):  # placed by a writer that took an older lock
                os.rename(self._folder, root / self._key)
            for other in root.iterdir():
                if (
                    other.is_dir()
                    and not other.name.startswith(_TEMPORARY)
                    and other.name != self._key
                ):
                    shutil.rmtree(other, ignore_errors=True)
            return RenderedLists.open(self._run_path, self._key, len(self._spans))
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Delete what was written (unless placed) and let go of the lock."""
        self._bodies.close()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._lock.close()
