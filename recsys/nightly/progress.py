"""Progress reporting for unattended runs: tqdm bars in a terminal, plain lines in logs.

Plain lines are flushed one by one, so a log (or a test watching the process) sees each step as it
happens. Lines never contain reader ids.
"""

from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

from tqdm import tqdm

Mode = Literal["auto", "bars", "lines", "none"]


class Progress:
    """Where a run reports what it is doing.

    Parameters
    ----------
    mode
        ``bars`` (tqdm on `stream`), ``lines`` (one timestamped line per event), ``none``, or
        ``auto``: bars when `stream` is a terminal, lines otherwise.
    stream
        Destination of bars and lines (default: standard output for lines, standard error for
        bars).
    """

    def __init__(self, mode: Mode = "auto", stream: TextIO | None = None) -> None:
        if mode == "auto":
            mode = "bars" if sys.stderr.isatty() else "lines"
        if mode not in ("bars", "lines", "none"):
            raise ValueError(f"progress mode must be auto, bars, lines or none; got {mode!r}")
        self.mode = mode
        self.stream = stream

    def line(self, message: str) -> None:
        """Report one event (``step: what happened``)."""
        if self.mode == "lines":
            stream = self.stream or sys.stdout
            stream.write(f"{time.strftime('%H:%M:%S')} {message}\n")
            stream.flush()
        elif self.mode == "bars":
            tqdm.write(message, file=self.stream or sys.stderr)

    def rows(self, description: str) -> RowsTracker:
        """A ``callback(rows_so_far)`` drawing a bar or writing a line per call; close it after."""
        return RowsTracker(self, description)


class RowsTracker:
    """Progress of one file or loop reported as a running total."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description
        self._bar: tqdm | None = None

    def __call__(self, done: int) -> None:
        if self._progress.mode == "bars":
            if self._bar is None:
                self._bar = tqdm(
                    desc=self._description,
                    unit=" rows",
                    unit_scale=True,
                    file=self._progress.stream or sys.stderr,
                    leave=False,
                )
            self._bar.update(int(done) - self._bar.n)
        else:
            self._progress.line(f"{self._description}: {int(done)} rows")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
