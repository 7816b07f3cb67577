"""Running a piece of a benchmark with another commit's code, for a before/after in one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def figures_from(tree: str, script: str, *args: str) -> dict[str, Any]:
    """The JSON object `script` prints last, run by this Python with the `recsys` in `tree`
    (a source tree, `git archive <commit> | tar -x -C DIR`) in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "PYTHONPATH": tree},
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
