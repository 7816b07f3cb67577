"""`recsys sample`: write a deterministic sample library into the inbox (or another folder)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from recsys.config import Settings
from recsys.sample import SampleConfig, generate_library, write_library
from recsys.sample.config import DERIVED_MEMBERS, LOANS_PER_MEMBER, consortium_members

DEFAULT_LOANS = 50_000
AUTO = "auto"


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
        "--members",
        type=_members,
        default=None,
        metavar="N|auto",
        help="generate a consortium of N member libraries, each with its own records of shared "
        f"works (auto: one per {LOANS_PER_MEMBER:,} loans, within {list(DERIVED_MEMBERS)}); "
        "default: one library system of branches",
    )
    parser.add_argument(
        "--split-last-days",
        type=int,
        default=0,
        metavar="N",
        help="write loans and views of the last N days to one file per day",
    )
    parser.set_defaults(handler=run)


def _members(text: str) -> int | str:
    """`--members`: a whole number or "auto"."""
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--members must be a whole number or {AUTO!r}; got {text!r}"
        ) from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    end = args.end or (datetime.now(UTC).date() - timedelta(days=1))
    members = consortium_members(args.loans) if args.members == AUTO else args.members
    config = SampleConfig(
        n_loans=args.loans,
        seed=args.seed,
        end=end,
        feedback_share=args.feedback_share,
        n_members=members,
    )
    library = generate_library(config)
    out_dir = args.out if args.out is not None else settings.inbox_dir
    written = write_library(library, out_dir, split_last_days=args.split_last_days)
    if members is None:
        print(
            f"sample library (seed {config.seed}): {config.readers} readers, {config.books} "
            f"books, {config.branches} branches, {config.start} to {config.end}"
        )
    else:
        print(
            f"sample consortium (seed {config.seed}): {config.readers} readers, {members} "
            f"members, {len(library.catalog)} records of {config.books} editions, "
            f"{config.start} to {config.end}"
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
