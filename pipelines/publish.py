"""`recsys publish RUN_ID` and `recsys rollback`: move the served-model pointer by hand.

Both refuse a run that may hold a reader erased after it was trained (`recsys.artifacts`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys import artifacts
from recsys.config import Settings
from recsys.erasure import stored_latest_erasure


def register(subparsers: argparse._SubParsersAction) -> None:
    publish = subparsers.add_parser(
        "publish", help="serve a saved run (verifies its checksums first); CURRENT -> PREVIOUS"
    )
    publish.add_argument("run_id", help="a run id under $RECSYS_MODELS_DIR/runs/")
    publish.set_defaults(handler=run_publish)
    rollback = subparsers.add_parser("rollback", help="serve PREVIOUS again")
    rollback.set_defaults(handler=run_rollback)


def run_publish(args: argparse.Namespace, settings: Settings) -> int:
    models_dir = Path(settings.models_dir)
    before = artifacts.current_run_id(models_dir)
    artifacts.publish(models_dir, args.run_id, latest_erasure=stored_latest_erasure(settings))
    print(
        f"published {args.run_id} (previous: {before or 'none'}); "
        "running services pick it up at their next poll"
    )
    return 0


def run_rollback(args: argparse.Namespace, settings: Settings) -> int:
    models_dir = Path(settings.models_dir)
    before = artifacts.current_run_id(models_dir)
    restored = artifacts.rollback(models_dir, latest_erasure=stored_latest_erasure(settings))
    print(f"rolled back from {before} to {restored}")
    return 0
