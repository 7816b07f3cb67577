"""Volume check replay: on how many nights of a loan history does the nightly's volume check fail?

Each night is checked on the loans exported until that night (UTC midnight), as the nightly would
have seen them: the store is filled once, then the nights are replayed newest first, deleting the
loans after each night before checking it. Without arguments it replays the generated sample
library (branches closed on Sundays, most on Mondays too, and on public holidays); with
``--loans FILE`` a real export, for example the Swiss university loans:

    python -m benchmarks bench_volume
    python -m benchmarks.bench_volume --columns reader_id=u,book_id=i,borrowed_at=t \\
        --loans ../shared/data/swiss-library-loans/interactions_train.csv.gz
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from recsys.config import Settings
from recsys.data.readers import parse_column_map
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.db.tables import loans
from recsys.ingest import ingest_file
from recsys.nightly.validate import validate_store
from recsys.sample import SampleConfig, generate_library, write_library

DAY = 86_400
#: Nights at the start of the history are not counted: the check needs weeks of history first.
WARM_UP_DAYS = 35


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=Path, help="a loans export (default: a generated one)")
    parser.add_argument("--columns", help="column map for --loans, as for `recsys ingest`")
    parser.add_argument("--sample-loans", type=int, default=50_000)
    args = parser.parse_args(argv or [])
    work = Path(tempfile.mkdtemp(prefix="bench-volume-"))
    try:
        path = args.loans or _sample_loans(work, args.sample_loans)
        _replay(work, path, parse_column_map(args.columns))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sample_loans(work: Path, n_loans: int) -> Path:
    library = generate_library(SampleConfig(n_loans=n_loans, seed=42))
    (path,) = write_library(library, work / "exports")["loans"]
    print(f"generated library: {n_loans:,} loans, {library.config.branches} branches")
    return path


def _replay(work: Path, path: Path, columns: dict[str, str]) -> None:
    settings = Settings(
        data_dir=work / "data",
        pseudonym_key=SecretStr("v" * 48),
        retention_days=36_500,  # every night of the history is checked, however old
        min_loans=1,
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = make_engine(settings)
    upgrade(engine)
    report = ingest_file(engine, settings, kind="loans", path=path, column_map=columns)
    print(f"{path.name}: {report.rows_accepted:,} loan events stored")
    with engine.connect() as connection:
        first, last = connection.execute(
            select(func.min(loans.c.borrowed_at), func.max(loans.c.borrowed_at))
        ).one()
    nights = range(last // DAY * DAY + DAY, first // DAY * DAY + WARM_UP_DAYS * DAY, -DAY)
    started = time.perf_counter()
    failed: list[pd.Timestamp] = []
    for night in nights:
        with engine.begin() as connection:
            connection.execute(delete(loans).where(loans.c.borrowed_at >= night))
        problems = validate_store(engine, settings, now=night).problems
        if any(problem.startswith("the newest 24 hours") for problem in problems):
            failed.append(pd.Timestamp(night - DAY, unit="s"))
    engine.dispose()
    per_weekday = Counter(day.day_name()[:3] for day in failed)
    print(
        f"volume check (RECSYS_MAX_VOLUME_DROP={settings.max_volume_drop:g}) failed on "
        f"{len(failed)} of {len(nights)} nights ({time.perf_counter() - started:.0f}s); "
        f"by weekday: {dict(sorted(per_weekday.items()))}"
    )
    print("failed nights (the day before):", ", ".join(day.strftime("%Y-%m-%d") for day in failed))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
