"""The nightly steps one at a time: `recsys ingest-inbox`, `validate`, `train`, `gate [RUN_ID]`.

Each takes the same lock as `recsys nightly` (exit 4 while another run holds it), so a step rerun
by hand never races the scheduled run. `recsys publish RUN_ID` and `recsys rollback` live in
`pipelines.publish`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.nightly import add_engine_argument, add_progress_argument, with_engine
from recsys import artifacts
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.exceptions import ModelNotFoundError
from recsys.nightly import steps
from recsys.nightly.lock import LockHeldError, run_lock
from recsys.nightly.progress import Progress
from recsys.nightly.runner import EXIT_LOCKED, EXIT_REFUSED, prepare_database

Step = Callable[[Settings, steps.RunContext], int]


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, step, text in (
        ("ingest-inbox", _ingest, "nightly step 1: ingest new exports from the inbox"),
        ("validate", _validate, "nightly step 2: apply retention and check the stored data"),
        (
            "train",
            _train,
            "nightly step 3+4: train, evaluate, save a new run and render its readers' lists "
            "(not published)",
        ),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        add_progress_argument(parser)
        if name == "train":
            add_engine_argument(parser)
        parser.set_defaults(handler=_locked(name, step))
    parser = subparsers.add_parser("gate", help="nightly step 5: may this run be published?")
    parser.add_argument("run_id", nargs="?", help="default: the newest complete run")
    parser.set_defaults(handler=_gate)


def _locked(name: str, step: Step) -> Callable[[argparse.Namespace, Settings], int]:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        settings = with_engine(args, settings)
        try:
            with run_lock(Path(settings.models_dir), purpose=name):
                engine = make_engine(settings)
                ctx = steps.RunContext(artifacts.new_run_id(), engine, Progress(args.progress))
                prepare_database(settings, engine, ctx.line)
                return step(settings, ctx)
        except LockHeldError as error:
            print(f"recsys {name}: {error}", file=sys.stderr)
            return EXIT_LOCKED

    return handler


def _ingest(settings: Settings, ctx: steps.RunContext) -> int:
    report = steps.ingest(settings, ctx).as_dict()
    print(
        f"ingested {report['files_ingested']} files, skipped {report['files_skipped']} known; "
        f"rows stored: {report['rows_accepted']}"
    )
    return 0


def _validate(settings: Settings, ctx: steps.RunContext) -> int:
    report = steps.validate(settings, ctx)
    print(f"data ok: {report.loans} loan events")
    return 0


def _train(settings: Settings, ctx: steps.RunContext) -> int:
    steps.train(settings, ctx)
    steps.evaluate(settings, ctx)
    steps.lists(settings, ctx)
    path = steps.save(settings, ctx)
    steps.render(settings, ctx)
    print(f"run {ctx.run_id} saved in {path}; check it with `recsys gate {ctx.run_id}`")
    return 0


def _gate(args: argparse.Namespace, settings: Settings) -> int:
    run_id = args.run_id or newest_complete_run(Path(settings.models_dir))
    engine = make_engine(settings)
    decision = steps.gate(settings, steps.RunContext(run_id, engine))
    print(decision.explanation)
    return 0 if decision.passed else EXIT_REFUSED


def newest_complete_run(models_dir: Path) -> str:
    """The newest run with a manifest (a complete bundle)."""
    for run_id in reversed(artifacts.list_runs(models_dir)):
        if (artifacts.run_path(models_dir, run_id) / artifacts.MANIFEST).is_file():
            return run_id
    raise ModelNotFoundError(f"no complete run in {models_dir}; train one with `recsys train`")
