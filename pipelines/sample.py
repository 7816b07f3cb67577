"""`recsys sample`: write a deterministic sample library into the inbox (or another folder)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from recsys.config import Settings
from recsys.sample import SampleConfig, generate_library, write_library

DEFAULT_LOANS = 50_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample", help="generate a realistic sample library as CSV exports (deterministic by seed)"
    )
    parser.add_argument(
        "--loans",
        type=int,
        default=DEFAULT_LOANS,
        help=f"number of loan events (default {DEFAULT_LOANS}); renewals, holds "
        "and views come on top",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: the inbox, $RECSYS_DATA_DIR/inbox)",
    )
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="last day of the sample (default: yesterday, UTC, so the retention window and "
        "the nightly volume check see current data)",
    )
    parser.add_argument(
        "--feedback-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the readers who give feedback on books (a feedback export; default 0)",
    )
    parser.add_argument(
        "--split-last-days",
        type=int,
        default=0,
        metavar="N",
        help="write loans and views of the last N days to one file per day",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    end = args.end or (datetime.now(UTC).date() - timedelta(days=1))
    config = SampleConfig(
        n_loans=args.loans, seed=args.seed, end=end, feedback_share=args.feedback_share
    )
    library = generate_library(config)
    out_dir = args.out if args.out is not None else settings.inbox_dir
    written = write_library(library, out_dir, split_last_days=args.split_last_days)
    print(
        f"sample library (seed {config.seed}): {config.readers} readers, {config.books} books, "
        f"{config.branches} branches, {config.start} to {config.end}"
    )
    frames = {
        "loans": library.loans,
        "views": library.views,
        "catalog": library.catalog,
        "holdings": library.holdings,
        "feedback": library.feedback,
    }
    for kind, paths in written.items():
        print(f"{kind}: {len(frames[kind])} rows in {len(paths)} file(s)")
        for path in paths:
            print(f"  {path}")
    return 0
