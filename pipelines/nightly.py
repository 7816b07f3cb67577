"""`recsys nightly`: ingest, validate, train, evaluate, gate and publish, unattended.

Exit codes: 0 published, 1 failed, 3 the gate refused the new model (the published one stays),
4 another run holds the lock (nothing done).
"""

from __future__ import annotations

import argparse
import sys

from recsys.config import Settings
from recsys.engines import ENGINES
from recsys.nightly.lock import LockHeldError
from recsys.nightly.progress import Progress
from recsys.nightly.runner import EXIT_FAILED, EXIT_LOCKED, run_nightly
from recsys.nightly.summary import format_summary

EXIT_CODES = """exit codes:
  0  a new model was published
  1  the run failed (see the message); nothing was published
  3  the gate refused the new model; the published model stays in service
  4  another run holds the nightly lock; this run did nothing
"""


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        choices=("auto", "bars", "lines", "none"),
        default="auto",
        help="bars in a terminal, one line per event in logs (auto: bars when stderr is a TTY)",
    )


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="what trains: implicit (one process) or spark (RECSYS_SPARK_MASTER); "
        "default RECSYS_ENGINE, else implicit",
    )


def with_engine(args: argparse.Namespace, settings: Settings) -> Settings:
    """`settings` with the engine chosen by ``--engine``, if given."""
    engine = getattr(args, "engine", None)
    return settings if engine is None else settings.model_copy(update={"engine": engine})


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "nightly",
        help="run every nightly step: ingest, validate, train, evaluate, gate, publish",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_progress_argument(parser)
    add_engine_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_engine(args, settings)
    try:
        code, summary = run_nightly(settings, progress=Progress(args.progress))
    except LockHeldError as error:
        print(f"recsys nightly: {error}", file=sys.stderr)
        return EXIT_LOCKED
    print(format_summary(summary, metric=settings.gate_metric), flush=True)
    if code == EXIT_FAILED:
        print(
            f"recsys nightly: failed in step {summary.failed_step}: {summary.error}",
            file=sys.stderr,
        )
    return code
