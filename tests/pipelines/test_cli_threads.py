"""`recsys` runs BLAS on one thread unless `OPENBLAS_NUM_THREADS` says otherwise: implicit's ALS
and the scoring batches run their own threads, and a BLAS pool under each oversubscribes the
cores. numpy loads its BLAS before `main` runs, so setting the variable there is not enough."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from threadpoolctl import threadpool_info
from pipelines.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"))
"""


def test_the_cli_limits_blas_to_one_thread() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "1"
