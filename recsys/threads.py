"""How many BLAS threads a `recsys` process runs: one, unless `OPENBLAS_NUM_THREADS` says otherwise.

implicit's ALS and the scoring batches run their own threads, and a BLAS pool under each of them
oversubscribes the cores (implicit warns about it). Entry points (the CLI, the benchmarks) call
`limit_blas_threads` first thing.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits


def limit_blas_threads() -> None:
    """Apply the limit now and to what loads later: the variable serves BLAS libraries not yet
    loaded (scipy's); numpy's is loaded by the time an entry point runs, so it is limited directly
    (setting the variable alone came too late for it)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
