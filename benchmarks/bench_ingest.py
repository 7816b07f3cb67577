"""Ingest speed: 1,000,000 synthetic loan rows into a fresh SQLite file (target: under 60 s).

The CSV is written by this benchmark (numpy, fixed seed) so it depends on nothing else.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import SecretStr

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.ingest import ingest_file

ROWS = 1_000_000
READERS = 60_000
BOOKS = 40_000
TARGET_SECONDS = 60.0


def write_loans_csv(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """Long-tailed readers and books, ISO timestamps over two years, a few renewals and holds."""
    rng = np.random.default_rng(seed)
    readers = np.minimum(rng.zipf(1.3, rows), READERS) + rng.integers(0, READERS, rows) % 997
    books = np.minimum(rng.zipf(1.2, rows), BOOKS) + rng.integers(0, BOOKS, rows) % 3001
    start = np.datetime64("2023-01-01T00:00:00", "s")
    seconds = rng.integers(0, 2 * 365 * 86_400, rows)
    frame = pd.DataFrame(
        {
            "reader_id": np.char.add("P", readers.astype(str)),
            "book_id": np.char.add("B", books.astype(str)),
            "borrowed_at": (start + seconds).astype(str),
            "event": rng.choice(["loan", "renewal", "hold"], rows, p=[0.85, 0.1, 0.05]),
            "library_id": np.char.add("L", rng.integers(1, 9, rows).astype(str)),
        }
    )
    frame.to_csv(path, index=False)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        root = Path(tmp)
        csv_path = root / "loans.csv"
        started = time.perf_counter()
        write_loans_csv(csv_path)
        print(
            f"generated {ROWS:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        settings = Settings(
            data_dir=root / "data",
            models_dir=root / "models",
            database_url=f"sqlite:///{(root / 'bench.db').as_posix()}",
            pseudonym_key=SecretStr("b" * 64),
            max_bad_row_share=0.05,
        )
        engine = make_engine(settings)
        upgrade(engine)
        started = time.perf_counter()
        report = ingest_file(engine, settings, kind="loans", path=csv_path, progress=lambda n: None)
        seconds = time.perf_counter() - started
        engine.dispose()
        verdict = "OK" if seconds < TARGET_SECONDS else "TOO SLOW"
        print(f"{'rows read':<22}{report.rows_read:>12,}")
        print(f"{'rows stored':<22}{report.rows_accepted:>12,}")
        print(f"{'rows quarantined':<22}{report.rows_quarantined:>12,}")
        print(f"{'seconds':<22}{seconds:>12.1f}  (target < {TARGET_SECONDS:.0f}: {verdict})")
        print(f"{'rows/s':<22}{report.rows_read / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
