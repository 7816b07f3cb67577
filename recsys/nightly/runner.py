"""Run the nightly steps in order into one run directory, recording the run's summary.

Exit codes (also `recsys nightly`'s): 0 published, 1 failed, 3 the gate refused the new model,
4 another run holds the lock. A failed or refused run never changes ``CURRENT``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from recsys import artifacts
from recsys.config import Settings
from recsys.db import runs as runs_table
from recsys.db.engine import make_engine, probe_write
from recsys.exceptions import RecsysError
from recsys.nightly import steps
from recsys.nightly.lock import run_lock
from recsys.nightly.progress import Progress
from recsys.nightly.summary import FAILED, PUBLISHED, REFUSED, RunSummary

EXIT_PUBLISHED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 3
EXIT_LOCKED = 4
SUMMARY_FILE = "summary.json"
SHOWN_METRICS = ("ndcg@10", "precision@10", "recall@10", "coverage@10")

logger = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseUnavailableError(RecsysError):
    """The store could not be written within the configured wait."""


def run_nightly(settings: Settings, *, progress: Progress) -> tuple[int, RunSummary]:
    """Run every step under the run lock; returns the exit code and the summary.

    Raises `recsys.nightly.lock.LockHeldError` (exit code 4) when another run holds the lock.
    """
    with run_lock(Path(settings.models_dir), purpose="nightly"):
        engine = make_engine(settings)
        try:
            return _run(settings, engine, progress)
        finally:
            engine.dispose()


def _run(settings: Settings, engine: Engine, progress: Progress) -> tuple[int, RunSummary]:
    models_dir = Path(settings.models_dir)
    summary = RunSummary(run_id=artifacts.new_run_id())
    summary.previous_run_id = artifacts.current_run_id(models_dir)
    ctx = steps.RunContext(run_id=summary.run_id, engine=engine, progress=progress)
    progress.line(f"nightly: run {summary.run_id} started")
    recorded = False
    code = EXIT_FAILED
    try:
        _timed(summary, "database", lambda: prepare_database(settings, engine, ctx.line))
        runs_table.mark_interrupted(engine, finished_at=int(time.time()))
        runs_table.record_run_start(
            engine, run_id=summary.run_id, started_at=int(summary.started_at)
        )
        recorded = True
        report = _timed(summary, "ingest", lambda: steps.ingest(settings, ctx))
        summary.counts["ingest"] = report.as_dict()
        checked = _timed(summary, "validate", lambda: steps.validate(settings, ctx))
        summary.counts["validate"] = checked.as_dict()
        summary.counts["train"] = _timed(summary, "train", lambda: steps.train(settings, ctx))
        metrics = _timed(summary, "evaluate", lambda: steps.evaluate(settings, ctx))
        summary.metrics = {
            name: {
                k: v
                for k, v in entry["metrics"].items()
                if k in (*SHOWN_METRICS, settings.gate_metric)
            }
            for name, entry in metrics["models"].items()
        }
        _timed(summary, "lists", lambda: steps.lists(settings, ctx))
        _timed(summary, "save", lambda: steps.save(settings, ctx))
        summary.counts["render"] = _timed(summary, "render", lambda: steps.render(settings, ctx))
        decision = _timed(summary, "gate", lambda: steps.gate(settings, ctx))
        summary.decision = decision.reason
        summary.explanation = decision.explanation
        if decision.passed:
            _timed(summary, "publish", lambda: steps.publish(settings, ctx))
            summary.status, code = PUBLISHED, EXIT_PUBLISHED
        else:
            summary.status, code = REFUSED, EXIT_REFUSED
    except Exception as error:
        summary.status = FAILED
        summary.error = describe_error(error)
        if not isinstance(error, RecsysError | SQLAlchemyError):
            logger.exception(
                "nightly run %s failed in step %s", summary.run_id, summary.failed_step
            )
    finally:
        summary.finished_at = time.time()
        summary.published_run_id = artifacts.current_run_id(models_dir)
        _finish(settings, engine, summary, recorded=recorded)
    progress.line(f"nightly: run {summary.run_id} finished: {summary.status}")
    return code, summary


def _timed(summary: RunSummary, step: str, action: Callable[[], T]) -> T:
    summary.failed_step = step
    started = time.perf_counter()
    result = action()
    summary.timings[step] = round(time.perf_counter() - started, 3)
    summary.failed_step = None
    return result


def _finish(settings: Settings, engine: Engine, summary: RunSummary, *, recorded: bool) -> None:
    """Store the summary in the runs table and, when the run directory exists, next to it."""
    data = summary.as_dict()
    run_dir = artifacts.run_path(Path(settings.models_dir), summary.run_id)
    if run_dir.is_dir():
        (run_dir / SUMMARY_FILE).write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    if not recorded:
        return
    try:
        runs_table.record_run_end(
            engine,
            run_id=summary.run_id,
            finished_at=int(time.time()),
            status=summary.status,
            decision=summary.decision,
            summary=data,
        )
    except SQLAlchemyError as error:
        logger.error(
            "could not store the summary of run %s: %s", summary.run_id, describe_error(error)
        )


def prepare_database(settings: Settings, engine: Engine, line: Callable[[str], None]) -> None:
    """Wait until the store accepts writes (up to ``db_wait_seconds``), then migrate it."""
    from recsys.db.schema import upgrade

    wait_for_database(engine, seconds=settings.db_wait_seconds, line=line)
    upgrade(engine)


def wait_for_database(engine: Engine, *, seconds: float, line: Callable[[str], None]) -> None:
    """Retry a write probe until it succeeds or `seconds` have passed.

    A nightly started while a backup or another program holds the SQLite write lock, or while
    PostgreSQL restarts, waits instead of failing at once; after the wait it fails with one clear
    message and has changed nothing.
    """
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        try:
            probe_write(engine, timeout=max(0.05, min(remaining, 10.0)))
            return
        except DBAPIError as error:
            reason = describe_error(error)
            if time.monotonic() >= deadline:
                where = engine.url.render_as_string(hide_password=True)
                raise DatabaseUnavailableError(
                    f"the database {where} could not be written for {seconds:g}s "
                    f"(RECSYS_DB_WAIT_SECONDS): {reason}. Another program may hold a write lock "
                    "(a backup, an open SQLite shell) or the server is down; nothing was changed"
                ) from None
            line(f"database: busy or unreachable ({reason}); retrying")
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def describe_error(error: BaseException) -> str:
    """A one-line message without data values (database errors can quote rows)."""
    if isinstance(error, IntegrityError):
        return f"the database refused a write ({type(error.orig).__name__})"
    if isinstance(error, DBAPIError):
        first = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
        return f"{type(error.orig).__name__}: {first}"
    if isinstance(error, SQLAlchemyError):
        return type(error).__name__
    if isinstance(error, RecsysError):
        return str(error)
    return f"{type(error).__name__}: {error}"
