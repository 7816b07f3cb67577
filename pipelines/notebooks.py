"""`recsys notebooks`: execute the librarians' notebooks for one run into HTML reports.

Every notebook reviews the same run (default: the published one, resolved once at the start, so
a publish during the job cannot mix two runs in one morning report). The kernel inherits this
process's environment and working directory, so it reads the same settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recsys import artifacts
from recsys.config import Settings
from recsys.exceptions import ModelNotFoundError, RecsysError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "notebooks", help="execute the librarians' notebooks into HTML reports (reports/NN-*.html)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        help="folder for the HTML reports; default reports/",
    )
    parser.add_argument("--run-id", default=None, help="run to review; default the published model")
    parser.add_argument(
        "--k", type=_positive_int, default=10, help="list length reviewed; default 10"
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=Path("notebooks"),
        help="folder holding the NN-topic.ipynb notebooks; default notebooks/",
    )
    parser.add_argument(
        "--show-code",
        action="store_true",
        help="keep the code cells in the HTML (hidden by default)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    models_dir = Path(settings.models_dir)
    run_id = args.run_id or artifacts.current_run_id(models_dir)
    if run_id is None:
        raise ModelNotFoundError(
            f"no published model in {models_dir}: run `recsys nightly` (or `make demo`) first, "
            "or pass --run-id"
        )
    artifacts.verify_bundle(artifacts.run_path(models_dir, run_id))
    try:  # Jupyter is only needed here: every other command works without it
        from recsys.notebooks import run_notebooks
    except ImportError as error:
        raise RecsysError(
            f"recsys notebooks needs nbclient, nbconvert and ipykernel ({error}); "
            "install them with: pip install -e '.[test]'"
        ) from None
    written = run_notebooks(
        args.notebooks,
        args.out,
        parameters={"run_id": run_id, "k": args.k},
        show_code=args.show_code,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    for path in written:
        print(path)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value}")
    return value
