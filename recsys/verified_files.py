"""A bundle's checksums verified once per machine, not once per process that loads it.

Verifying a run reads and hashes every file its manifest lists, which grows with the library,
and each worker of the service verifies every run it loads: on one machine the same unchanged
bytes were hashed by every worker at every swap, while those workers answered requests. So
whoever hashes a run's files (the nightly checking a run, the first worker to load it) records,
per file, the checksum it matched and the file's stamp: size, modification and change times in
nanoseconds, inode and device. A later verification on the same machine since its last boot
hashes only the files whose stamp or expected checksum differs from the record. Any write to a
file moves its change time, which its writer cannot set back, so an unchanged stamp means the
bytes hashed before. After a reboot the record is not trusted (the bytes are read from the disk
again, not from memory).

Records live in the run's folder, ``.verified/<machine>.json``, outside the manifest; they hold
file names, checksums and stamps, nothing about readers. Where the folder cannot be written, each
process hashes as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from recsys.exceptions import BundleIntegrityError

logger = logging.getLogger(__name__)

VERIFIED_DIR = ".verified"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

#: A file's checksum as the manifest expects it, then its stamp.
Entry = tuple[str, int, int, int, int, int]


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at `path`, in hex."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_files(run: Path, expected: Mapping[str, str], *, rehash: bool = False) -> None:
    """Raise `BundleIntegrityError` naming the first of the `expected` files (path relative to
    `run`: its SHA-256) that is missing or does not match; hash only those this machine has not
    verified unchanged (all of them when `rehash`), and record what it verified."""
    run = Path(run)
    record = {} if rehash else _record(run)
    entries: dict[str, Entry] = {}
    hashed = False
    for rel, sha256 in expected.items():
        path = run / rel
        try:
            entry = (sha256, *_stamp(path))
        except FileNotFoundError:
            raise BundleIntegrityError(f"bundle file {path} is missing") from None
        if not path.is_file():
            raise BundleIntegrityError(f"bundle file {path} is missing")
        if record.get(rel) != entry:
            if file_sha256(path) != sha256:
                raise BundleIntegrityError(f"bundle file {path} does not match its SHA-256")
            hashed = True
        entries[rel] = entry  # stamped before hashing: a write meanwhile shows at the next look
    if hashed:
        _write_record(run, entries)


def _stamp(path: Path) -> tuple[int, int, int, int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev


@cache
def _machine() -> str:
    """This machine since its last boot (its host name where the kernel gives no boot id)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return socket.gethostname()


def _record_path(run: Path) -> Path:
    return run / VERIFIED_DIR / f"{_machine()}.json"


def _record(run: Path) -> dict[str, Entry]:
    """The files this machine verified in `run` (none if there is no readable record)."""
    try:
        saved = json.loads(_record_path(run).read_text())
        return {rel: tuple(entry) for rel, entry in saved.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_record(run: Path, entries: Mapping[str, Entry]) -> None:
    """Replace the record at once (readers see the old one or the new one), if the folder can
    be written."""
    target = _record_path(run)
    temporary = target.parent / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        target.parent.mkdir(exist_ok=True)
        temporary.write_text(json.dumps(entries))
        os.replace(temporary, target)
    except OSError as error:
        logger.debug("verified checksums not recorded: %s", type(error).__name__)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
