"""Every listed reader's default list rendered before the model is published, on every core.

The service replays a reader's default list from the files of `recsys.lists.rendered` while
the reader's rows still match, and renders those files itself only in lulls between requests
(`recsys.service.warm`): under a load with no lulls a new model's files would never be made. So
the nightly renders them right after saving the bundle, under the key the service computes
(`lists_key`) from the same served model, rules, popular lists and consent rule; a service that
loads the bundle finds them placed. If the rules or the popular lists differ by then, the key
differs and the service renders under its own key in lulls, as before.

The work is per reader: a process per core (forked, so each shares the loaded model's pages)
reads its readers' rows in a few statements per block (`recsys.db.reader_state.readers_rows`)
and renders them; this process writes what they made into one folder, placed by one rename.
A block that does not come back within `BLOCK_TIMEOUT_SECONDS` (a hung database read, a
process killed for memory) ends the rendering with `TimeoutError` and its processes with it:
the nightly goes on without the files instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine

from recsys.consent import ConsentRule
from recsys.curation.rules import CurationSet
from recsys.db.reader_state import READERS_PER_STATEMENT, readers_rows
from recsys.lists.cache import Rendered
from recsys.lists.personal import ReaderState, reader_list
from recsys.lists.pipeline import NotReady, SlowPath
from recsys.lists.rendered import DEFAULT_QUERY, RenderedLists, RenderedListsWriter, lists_key
from recsys.lists.served import ServedModel

logger = logging.getLogger(__name__)

#: Readers whose rows are read together and rendered by one process before it reports.
BLOCK = READERS_PER_STATEMENT
#: How long one block may take before the rendering is given up (a block takes seconds).
BLOCK_TIMEOUT_SECONDS = 600.0

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def default_list(
    served: ServedModel, curation: CurationSet, pseudonym: str, state: ReaderState
) -> Rendered | None:
    """The reader's default list as the front door would render it cheaply, or None where
    the model must answer (or the list fails: the reader's request will report it)."""
    try:
        return reader_list(served, curation, pseudonym, state, DEFAULT_QUERY, cheap=True)
    except (SlowPath, NotReady):
        return None
    except Exception as error:
        logger.debug("rendering one list failed: %s", type(error).__name__)
        return None


def states_of(
    rows: Mapping[str, Sequence[Sequence[Any]]], rule: ConsentRule
) -> dict[str, ReaderState]:
    """Each reader's state from their rows (`readers_rows`)."""
    return {reader: ReaderState.of_rows(found, rule) for reader, found in rows.items()}


_PR_SET_PDEATHSIG = 1  # prctl(2)
#: What the forked processes render from (set before they fork, read by `_render_block`).
_JOB: tuple[ServedModel, CurationSet, Engine, ConsentRule] | None = None


def _forked(parent: int) -> None:
    """In a forked process: end with the parent (a killed nightly must not leave processes
    waiting for work forever) and never use its pooled database connections."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    if _JOB is not None:
        _JOB[2].dispose(close=False)


def _render_block(block: Sequence[tuple[str, int]]) -> list[tuple[int, Rendered, bytes]]:
    if _JOB is None:
        raise RuntimeError("no rendering job in this process")
    served, curation, engine, rule = _JOB
    states = states_of(readers_rows(engine, [pseudonym for pseudonym, _ in block]), rule)
    made = []
    for pseudonym, position in block:
        state = states[pseudonym]
        rendered = default_list(served, curation, pseudonym, state)
        if rendered is not None and state.fingerprint is not None:
            made.append((position, rendered, state.fingerprint))
    return made


def render_ahead(
    served: ServedModel,
    curation: CurationSet,
    engine: Engine,
    rule: ConsentRule,
    *,
    progress: Callable[[int], None] | None = None,
) -> RenderedLists | None:
    """Render every listed reader's default list into the served run's folder under the
    service's key and place it; the placed lists, or None when another process is writing
    them. Raises what failed (nothing is placed then)."""
    global _JOB
    readers = len(served.readers)
    key = lists_key(served, curation.version, rule, DEFAULT_QUERY)
    run_path = served.bundle.path
    placed = RenderedLists.open(run_path, key, readers)
    if placed is not None:
        return placed
    writer = RenderedListsWriter.claim(run_path, key, readers)
    if writer is None:
        return RenderedLists.open(run_path, key, readers)
    listed = served.readers.index.in_order()
    blocks = [listed[start : start + BLOCK] for start in range(0, len(listed), BLOCK)]
    workers = min(len(blocks), os.cpu_count() or 1)
    _JOB = (served, curation, engine, rule)
    try:
        if workers <= 1:
            _add_all(writer, map(_render_block, blocks), progress)
        else:
            made = in_processes(_render_block, blocks, workers, BLOCK_TIMEOUT_SECONDS)
            with contextlib.closing(made):  # its processes end here, whatever happened
                _add_all(writer, made, progress)
        return writer.finish()
    finally:
        _JOB = None
        writer.abandon()


def in_processes(
    work: Callable[[_Item], _Result], items: Sequence[_Item], workers: int, timeout: float
) -> Generator[_Result, None, None]:
    """`work(item)` of each item, in order, computed by `workers` forked processes. Raises
    `TimeoutError` when the next result takes more than `timeout` seconds; the processes are
    ended whenever the iteration ends, finished or not."""
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_forked, initargs=(os.getpid(),)) as pool:
        results = pool.imap(work, items)
        for _ in items:
            try:
                yield results.next(timeout)
            except multiprocessing.TimeoutError:
                raise TimeoutError(f"no result within {timeout:.0f} s") from None


def _add_all(
    writer: RenderedListsWriter,
    made: Iterable[list[tuple[int, Rendered, bytes]]],
    progress: Callable[[int], None] | None,
) -> None:
    for block in made:
        for position, rendered, fingerprint in block:
            writer.add(position, rendered, fingerprint)
        if progress is not None:
            progress(writer.added)
