"""The run lock: one nightly at a time, freed by the kernel even when its holder is killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.nightly.lock import LockHeldError, run_lock

HOLD_LOCK = """
import sys
from pathlib import Path
from recsys.nightly.lock import run_lock
with run_lock(Path(sys.argv[1]), purpose="holder"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_second_nightly_exits_4_naming_the_holder(env) -> None:
    with run_lock(env.models, purpose="test-holder"):
        result = env.run("nightly", "--progress", "none")
        train = env.run("train", "--progress", "none")
    assert result.returncode == 4
    assert "another run holds the nightly lock" in result.stderr
    assert f"held by pid {os.getpid()}" in result.stderr
    assert "'test-holder'" in result.stderr
    assert train.returncode == 4
    assert "recsys train: another run holds the nightly lock" in train.stderr


def test_lock_is_refused_inside_one_process_too(tmp_path: Path) -> None:
    with (
        run_lock(tmp_path, purpose="first"),
        pytest.raises(LockHeldError, match="'first'"),
        run_lock(tmp_path, purpose="second"),
    ):
        pass


def test_lock_is_released_when_the_holder_is_sigkilled(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(LockHeldError, match=f"held by pid {holder.pid}"),
            run_lock(tmp_path, purpose="waiting"),
        ):
            pass
        holder.kill()
        holder.wait()
        with run_lock(tmp_path, purpose="after-kill") as path:
            assert "after-kill" in path.read_text()
    finally:
        holder.kill()
        holder.wait()
