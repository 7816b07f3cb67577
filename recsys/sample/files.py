"""`write_library`: gzip CSV files in the inbox layout that `recsys ingest`/`nightly` read."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.exceptions import ConfigurationError
from recsys.sample.library import SampleLibrary

CHUNK_ROWS = 500_000
COMPRESS_LEVEL = 3  # several times faster than 9, for files about 10% larger


def write_library(
    library: SampleLibrary, out_dir: Path, *, split_last_days: int = 0
) -> dict[str, list[Path]]:
    """Write `out_dir/{loans,views,catalog,holdings}/*.csv.gz`, and `feedback/feedback.csv.gz`
    when the library has feedback; return the paths per kind.

    With `split_last_days=N`, loans and views of the last N days go to one file per day
    (`loans-2026-11-20.csv.gz`) and the rest to `loans-<first day>--<last day>.csv.gz`, so a
    benchmark can ingest the history and then "one day of new exports". Paths are listed in
    chronological order (which is also their sorted order). The files are byte-identical for
    the same library.
    """
    config = library.config
    if not 0 <= split_last_days < config.days:
        raise ConfigurationError(
            f"split_last_days must be in [0, {config.days - 1}] (the window has {config.days} "
            f"days); got {split_last_days}"
        )
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    for kind, frame, time_column in (
        ("loans", library.loans, C.BORROWED_AT),
        ("views", library.views, C.VIEWED_AT),
    ):
        folder = out_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        if not split_last_days:
            written[kind] = [_write_csv(frame, folder / f"{kind}.csv.gz", time_column)]
            continue
        first_split = config.end - timedelta(days=split_last_days - 1)
        days = [first_split + timedelta(days=i) for i in range(split_last_days + 1)]
        bounds = np.searchsorted(
            frame[time_column].to_numpy(dtype="datetime64[s]"),
            np.array([np.datetime64(d, "s") for d in days]),
        )
        history = f"{kind}-{config.start.isoformat()}--{days[0] - timedelta(days=1)}.csv.gz"
        paths = [_write_csv(frame.iloc[: bounds[0]], folder / history, time_column)]
        for day, low, high in zip(days, bounds[:-1], bounds[1:], strict=False):
            path = folder / f"{kind}-{day.isoformat()}.csv.gz"
            paths.append(_write_csv(frame.iloc[low:high], path, time_column))
        written[kind] = paths
    for kind, frame in (("catalog", library.catalog), ("holdings", library.holdings)):
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        written[kind] = [_write_csv(frame, out_dir / kind / f"{kind}.csv.gz", None)]
    if len(library.feedback):
        (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
        path = out_dir / "feedback" / "feedback.csv.gz"
        written["feedback"] = [_write_csv(library.feedback, path, C.GIVEN_AT)]
    return written


def _write_csv(frame: pd.DataFrame, path: Path, time_column: str | None) -> Path:
    """Write in chunks (bounded memory); a fixed gzip header (no name, mtime 0) keeps the bytes
    reproducible."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0
        ) as out,
    ):
        out.write((",".join(frame.columns) + "\n").encode())
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            if time_column is None:
                text = chunk.to_csv(index=False, header=False, lineterminator="\n")
            else:
                text = _event_lines(chunk, time_column)
            out.write(text.encode("utf-8"))
    return path


def _event_lines(chunk: pd.DataFrame, time_column: str) -> str:
    """CSV lines of an events chunk (categorical ids, one time column), about twice as fast as
    `to_csv`. Ids, codes and times never contain a comma or a quote, so nothing needs quoting."""
    columns = []
    for name in chunk.columns:
        column = chunk[name]
        if name == time_column:
            seconds = column.to_numpy(dtype="datetime64[s]")
            columns.append(np.datetime_as_string(seconds, unit="s", timezone="UTC").astype(object))
        else:
            values = np.append(column.cat.categories.to_numpy(dtype=object), "")  # code -1: ""
            columns.append(values[column.cat.codes.to_numpy()])
    return "".join(line + "\n" for line in map(",".join, zip(*columns, strict=True)))
