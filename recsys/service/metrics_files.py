"""The directory where the service's worker processes keep their metrics (prometheus-client's
multiprocess mode), one fresh directory per start of `recsys serve`.

Each worker writes its counters and gauges to memory-mapped files in this directory and any
worker answering `/metrics` adds up every worker's files, so a scrape sees the whole service.
A fresh directory per start means no count of an earlier start leaks in; it is removed when
the server stops. prometheus-client chooses the mode when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`, so this module must not import it and the variable is set before
uvicorn imports the app.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "recsys-metrics-"


def configured_directory() -> Path | None:
    """The multiprocess directory of this process, or None: metrics are kept in memory."""
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(value) if value else None


@contextlib.contextmanager
def fresh_directory() -> Iterator[Path]:
    """Create an empty directory under the system's temporary directory (`TMPDIR`), point
    `PROMETHEUS_MULTIPROC_DIR` at it for this process and the workers it starts, and remove
    both on exit."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    previous = os.environ.get(ENVIRONMENT_VARIABLE)
    os.environ[ENVIRONMENT_VARIABLE] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[ENVIRONMENT_VARIABLE] = previous
        shutil.rmtree(path, ignore_errors=True)
