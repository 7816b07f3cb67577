"""Nightly benchmark: a full `recsys nightly` on the generated library (target < 3 min at 1M).

The history is ingested first and one nightly publishes a model; then one day of new exports
(``split_last_days=1``) lands in the inbox and the measured nightly ingests it, retrains,
evaluates, gates and publishes. ``--loans 10000000`` runs the 10M variant (target < 15 min).

    python -m benchmarks bench_nightly
    python -m benchmarks.bench_nightly --loans 10000000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.nightly import steps
from recsys.nightly.progress import Progress
from recsys.nightly.runner import prepare_database, run_nightly
from recsys.nightly.summary import RunSummary
from recsys.sample import SampleConfig, generate_library, write_library
from recsys.threads import limit_blas_threads

TARGETS = {1_000_000: 180.0, 10_000_000: 900.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv or [])
    limit_blas_threads()  # as the `recsys` CLI does
    work = Path(tempfile.mkdtemp(prefix="bench-nightly-"))
    try:
        _run(work, args.loans)
    finally:
        if args.keep:
            print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, n_loans: int) -> None:
    settings = Settings(
        data_dir=work / "data",
        models_dir=work / "models",
        pseudonym_key=SecretStr("b" * 48),
        retention_days=36_500,
        _env_file=None,  # type: ignore[call-arg]
    )
    started = time.perf_counter()
    exports = work / "exports"
    write_library(
        generate_library(SampleConfig(n_loans=n_loans, seed=42)), exports, split_last_days=1
    )
    print(f"generated {n_loans:,} loans in {time.perf_counter() - started:.1f}s", flush=True)
    new_day = _copy_history(exports, settings.inbox_dir)

    engine = make_engine(settings)
    ctx = steps.RunContext("history", engine, Progress("none"))
    started = time.perf_counter()
    prepare_database(settings, engine, ctx.line)
    steps.ingest(settings, ctx)
    engine.dispose()
    print(f"history ingested in {time.perf_counter() - started:.1f}s", flush=True)
    code, first = run_nightly(settings, progress=Progress("none"))
    _print("first nightly (publishes the first model)", code, first)

    for path in new_day:
        target = settings.inbox_dir / path.parent.name / path.name
        shutil.copyfile(path, target)
    code, summary = run_nightly(settings, progress=Progress("none"))
    _print("nightly with one new day of exports", code, summary)
    limit = TARGETS.get(n_loans)
    if limit is not None:
        total = summary.as_dict()["seconds"]
        verdict = "within" if total <= limit else "OVER"
        print(f"total {total:.1f}s: {verdict} the {limit:.0f}s target for {n_loans:,} loans")


def _copy_history(exports: Path, inbox: Path) -> list[Path]:
    """Copy the history into the inbox; return the newest day's files for later."""
    later = []
    for path in sorted(exports.rglob("*.csv.gz")):
        if "--" not in path.name and path.parent.name in ("loans", "views"):
            later.append(path)
            continue
        (inbox / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, inbox / path.parent.name / path.name)
    return later


def _print(title: str, code: int, summary: RunSummary) -> None:
    data = summary.as_dict()
    print(f"\n{title}: exit {code}, {summary.status} ({summary.decision}), {data['seconds']:.1f}s")
    if summary.error:
        print(f"  error: {summary.error}")
    print(f"  {'step':<10} {'seconds':>8}")
    for step, seconds in summary.timings.items():
        print(f"  {step:<10} {seconds:>8.1f}")
    for name, values in summary.metrics.items():
        print(f"  {name:<22} ndcg@10 {values.get('ndcg@10', float('nan')):.4f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
