"""Rendering ahead's processes: results in order, and neither a killed nightly nor a block that
never comes back leaves any of them behind."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from recsys.lists.ahead import in_processes

#: A parent that forks a rendering process as `render_ahead` does, then dies of SIGKILL.
PARENT = textwrap.dedent(
    """
    import os, signal
    from recsys.lists import ahead
    def pid(_):
        return os.getpid()
    print(next(ahead.in_processes(pid, [0], 1, 60)), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"  # a zombie has ended (its new parent may not reap it)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_rendering_process_ends_with_its_killed_parent() -> None:
    parent = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, timeout=60, check=False
    )
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for another process to end
    assert not _alive(child)


def _square_and_pid(number: int) -> tuple[int, int]:
    return number * number, os.getpid()


def _never_returns(_: int) -> None:
    threading.Event().wait()


def test_results_come_in_order_from_forked_processes() -> None:
    results = list(in_processes(_square_and_pid, list(range(20)), 2, timeout=60))
    assert [square for square, _ in results] == [n * n for n in range(20)]
    assert os.getpid() not in {pid for _, pid in results}
    assert not multiprocessing.active_children()


def test_a_block_that_never_returns_ends_the_rendering_and_its_processes() -> None:
    with pytest.raises(TimeoutError):
        list(in_processes(_never_returns, [1, 2, 3], 2, timeout=0.5))
    assert not multiprocessing.active_children()
