"""One nightly at a time, one erasure at a time: advisory `flock`s on lock files in the models
directory.

The kernel releases a `flock` when its holder exits for any reason (SIGKILL included), so a killed
run never leaves a stale lock behind; the file's text only says who holds it, for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recsys.exceptions import RecsysError

LOCK_FILE = ".nightly.lock"
ERASURE_LOCK_FILE = ".erasure.lock"


class LockHeldError(RecsysError):
    """Another process holds the nightly run lock."""


class LockUnavailableError(RecsysError):
    """A lock file cannot be created or opened (the models directory is not writable)."""


def lock_path(models_dir: Path) -> Path:
    return Path(models_dir) / LOCK_FILE


@contextmanager
def run_lock(models_dir: Path, *, purpose: str) -> Iterator[Path]:
    """Hold the run lock for the duration of the block, or raise `LockHeldError` at once.

    Parameters
    ----------
    models_dir
        Where the lock file lives (shared by every step that writes runs or the store).
    purpose
        Short name of what holds the lock (``nightly``, ``train`` ...), shown to a second run.
    """
    path = lock_path(models_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(
                f"another run holds the nightly lock {path} ({_describe_holder(path)}); "
                "this run did nothing. Wait for it to finish; the lock frees itself when that "
                "process ends, even if it is killed"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv[:3]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        yield path
    finally:
        # Closing the descriptor releases the flock; the file stays (removing it would race).
        os.close(fd)


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    return (
        f"held by pid {holder.get('pid')} on {holder.get('host')} running "
        f"{holder.get('purpose')!r} since {holder.get('since')}"
    )


@contextmanager
def erasure_lock(models_dir: Path) -> Iterator[None]:
    """Hold the erasure lock for the block, waiting for an erasure under way to finish.

    Erasures run one at a time, each recorded and purged from the saved runs before the next
    begins, so a run's record of the erasures it reflects is never overtaken by one that is
    still being purged (see `recsys.erasure`). Erasures are short; a nightly never takes it.
    """
    path = Path(models_dir) / ERASURE_LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LockUnavailableError(
            f"cannot open the erasure lock {path} ({error.strerror}): whoever erases readers "
            "must be able to write to the models directory; nothing was erased"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
