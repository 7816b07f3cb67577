"""Popular lists counted once per run and state of the stored loans, in files every worker maps.

Counting distinct readers per book, period and branch is an aggregation over every stored loan:
seconds at a million loans, about a minute at ten million. Done by each worker at each load, it
is paid once per worker per model swap, while those workers answer requests. So the first
process to count a run's popular lists (the nightly's `render` step, before it publishes the
run; else a worker) writes them under the run's folder, ``popular/<key>/``, and every later load
of that run with the same key maps them instead of counting.

The key names what the counts depend on: the pair threshold, and the stored loans as they are
now (the newest id, the oldest and newest times) together with the store's latest erasure. An
ingest adds loans (a new newest id); retention deletes every loan before a cutoff, the oldest
among them (a new oldest time); an erasure records a new erasure id. So counts made before any
of these are never used after it. Each part is one look along an index (counting the loans
would scan the table at every load of every worker). A purge of the run deletes the folder
(`recsys.artifacts.purge_bundle`), and a writer checks, before its folder appears, that the run
was not purged meanwhile. The files hold catalog positions and reader counts of at least
`min_readers` readers, no reader id.

Files: ``header.json`` (the key and the (period, branch) names, in order), ``positions.npy`` and
``counts.npy`` (every list one after another, best first) and ``ends.npy`` (where each ends).
A writer fills a temporary folder that one rename places, so a worker sees all of it or none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select

from recsys.array_files import load_arrays, save_arrays
from recsys.artifacts import POPULAR_DIR, manifest_sha256
from recsys.db.tables import loans

logger = logging.getLogger(__name__)

HEADER = "header.json"
POSITIONS, COUNTS, ENDS = "positions", "counts", "ends"
_TEMPORARY = ".tmp-"

#: Ranked catalog positions and their reader counts, per (period, branch).
Counted = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def counts_key(engine: Engine, *, min_readers: int) -> str:
    """Names the popular lists counted from the stored loans as they are now."""
    from recsys.erasure import latest_erasure_in  # it loads lists, which load these

    # one aggregate per subquery: SQLite looks a lone min or max up along its index, and
    # scans the table for several in one select
    looks = (
        func.max(loans.c.loan_id),
        func.min(loans.c.borrowed_at),
        func.max(loans.c.borrowed_at),
    )
    with engine.connect() as connection:
        newest_id, oldest_at, newest_at = connection.execute(
            select(*(select(look).scalar_subquery() for look in looks))
        ).one()
        erasure = latest_erasure_in(connection)
    state = [min_readers, newest_id, oldest_at, newest_at, erasure]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:24]


def open_counted(run_path: Path, key: str) -> Counted | None:
    """The run's popular lists placed under `key` (memory-mapped), or None when there are none
    or they cannot be read."""
    folder = Path(run_path) / POPULAR_DIR / key
    if not (folder / HEADER).is_file():
        return None
    try:
        header = json.loads((folder / HEADER).read_text())
        arrays = load_arrays(folder)
        names = [tuple(name) for name in header["lists"]]
        ends = arrays[ENDS]
        positions, counts = arrays[POSITIONS], arrays[COUNTS]
        if header["key"] != key or len(ends) != len(names) or len(positions) != len(counts):
            raise ValueError("the files do not agree with their header")
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.warning("counted popular lists not used: %s", type(error).__name__)
        return None
    starts = np.r_[0, ends][:-1]
    return {
        (str(period), str(library)): (positions[start:end], counts[start:end])
        for (period, library), start, end in zip(names, starts.tolist(), ends.tolist(), strict=True)
    }


def place_counted(run_path: Path, key: str, counted: Counted, *, manifest_stamp: str) -> None:
    """Write `counted` under `key` for the run's later loads, unless the run was purged since
    its manifest read `manifest_stamp` (the counts may hold an erased reader's loans, and the
    purge has deleted the folder already). A folder that cannot be written (a read-only models
    directory) is left out with a warning: every load then counts."""
    root = Path(run_path) / POPULAR_DIR
    temporary = root / f"{_TEMPORARY}{key}-{os.getpid()}"
    names = sorted(counted)
    try:
        temporary.mkdir(parents=True, exist_ok=True)
        lengths = [len(counted[name][0]) for name in names]
        save_arrays(
            temporary,
            {
                POSITIONS: _joined([counted[name][0] for name in names], np.int64),
                COUNTS: _joined([counted[name][1] for name in names], np.float64),
                ENDS: np.cumsum(lengths, dtype=np.int64),
            },
        )
        (temporary / HEADER).write_text(json.dumps({"key": key, "lists": names}))
        if manifest_sha256(Path(run_path)) != manifest_stamp:
            return
        os.rename(temporary, root / key)
    except OSError as error:  # placed meanwhile by another process, or not writable
        if not (root / key / HEADER).is_file():
            logger.warning(
                "counted popular lists not kept for other loads: %s", type(error).__name__
            )
        return
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for other in root.iterdir():  # counts of an earlier state of the store
        if other.is_dir() and not other.name.startswith(_TEMPORARY) and other.name != key:
            shutil.rmtree(other, ignore_errors=True)


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)
