"""Handing a worker's freed memory back to the system after a bundle's load or replacement.

A load reads the catalog snapshots through pyarrow, whose memory pool (mimalloc or jemalloc)
keeps freed blocks for reuse, and builds the served indexes among C heap pieces that glibc keeps
when they are freed; a replaced model's indexes are freed piece by piece, among pieces that live
on. None of that is used again until the next load: handed back, a worker keeps what it serves
from, which is what the one-copy-per-machine promise counts (`benchmarks/bench_service.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

import pyarrow


def return_freed_memory() -> None:
    """Release pyarrow's unused pool blocks and trim the C heap (glibc's `malloc_trim`)."""
    pyarrow.default_memory_pool().release_unused()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):  # another C library (musl)
            ctypes.CDLL(None).malloc_trim(0)
