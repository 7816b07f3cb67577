"""The `recsys` console script: one sub-command per module listed in `COMMAND_MODULES`.

Each module exposes ``register(subparsers)``, which adds its parser(s) and sets ``handler`` to a
function ``(args, settings) -> int`` returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from recsys.config import get_settings
from recsys.exceptions import RecsysError
from recsys.threads import limit_blas_threads

COMMAND_MODULES = (
    "pipelines.keygen",
    "pipelines.db",
    "pipelines.ingest",
    "pipelines.nightly",
    "pipelines.nightly_steps",
    "pipelines.privacy",
    "pipelines.sample",
    "pipelines.evaluate",
    "pipelines.serve",
    "pipelines.batch",
    "pipelines.publish",
    "pipelines.notebooks",
    "pipelines.curation",
    "pipelines.works",
)

EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsys", description="Reading recommendations for libraries."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code.

    Every error ends in one line on stderr and exit code 1: a `RecsysError` with its message, a
    database error without its SQL or parameters (they may hold pseudonyms), a file or disk
    error (OSError) with the file and the system's reason, anything else with its type only (its
    message may quote data; ``--verbose`` shows the traceback).
    """
    limit_blas_threads()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args, get_settings()))
    except RecsysError as error:
        print(f"recsys {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except SQLAlchemyError as error:  # one line without SQL or parameters (they hold pseudonyms)
        from recsys.nightly.runner import describe_error

        print(
            f"recsys {args.command}: error: the database failed ({describe_error(error)}); "
            "nothing was changed",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"recsys {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
    except Exception as error:
        if args.verbose:
            raise
        print(
            f"recsys {args.command}: error: unexpected {type(error).__name__}; run "
            f"`recsys --verbose {args.command} ...` to see where it happened",
            file=sys.stderr,
        )
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
