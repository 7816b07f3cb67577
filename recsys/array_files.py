"""Named numpy arrays as a folder of `.npy` files that load memory-mapped, never pickled.

A served bundle's arrays (a model's fitted state, the precomputed lists) are read by every
worker process of the service. Memory-mapped they stay in the page cache once, shared by all
workers, instead of one private copy each: an `.npz` archive cannot be mapped. They are mapped
copy-on-write (``mmap_mode="c"``): the file never changes, and a page someone writes becomes
that process's own (implicit's solver takes its factors as writable buffers, though it only
reads them). A mapped array is handed out as a plain `numpy.ndarray` view of its map: the
same shared pages, without `numpy.memmap`'s per-access bookkeeping, which costs more than the
read itself on the service's per-request path. `numpy.save` and `numpy.load` run with
``allow_pickle=False``, so an object array is refused on the way in and on the way out.

Files are replaced, never rewritten in place: a process may have the old file mapped, and
truncating a mapped file would crash it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SUFFIX = ".npy"
#: Arrays from this size on are memory-mapped when loaded; smaller ones are read.
MAP_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def save_arrays(directory: Path, arrays: Mapping[str, np.ndarray]) -> list[Path]:
    """Write each array to ``directory/<name>.npy`` (replacing files of earlier saves, removing
    arrays no longer named); returns the files written."""
    bad = sorted(name for name in arrays if not _NAME.match(name))
    if bad:
        raise ValueError(
            f"array names must be plain file names (letters, digits, _ . -); got {bad}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, array in arrays.items():
        target = directory / f"{name}{SUFFIX}"
        temporary = directory / f".tmp-{name}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        try:
            with temporary.open("wb") as handle:
                np.save(handle, np.asarray(array), allow_pickle=False)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(target)
    for stale in set(directory.glob(f"*{SUFFIX}")) - set(written):
        if not stale.name.startswith(".tmp-"):
            stale.unlink()
    return written


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """The arrays `save_arrays` wrote, the large ones memory-mapped (copy-on-write) and seen
    as plain arrays (their map stays open as long as the array lives)."""
    arrays = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if path.name.startswith(".tmp-"):
            continue
        if path.stat().st_size >= MAP_BYTES:
            array = np.load(path, mmap_mode="c", allow_pickle=False).view(np.ndarray)
        else:
            array = np.load(path, allow_pickle=False)
        arrays[path.name.removesuffix(SUFFIX)] = array
    return arrays
