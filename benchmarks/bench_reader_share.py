"""The giant-reader guard's default against real loan logs: how much of a file one reader holds.

Each real log in ../shared/data (skipped when absent) is cut into the files a library would
export: one per day, per week and per month. For the files the guard judges (at least
`MIN_EVENTS_FOR_SHARE` events) this prints the largest share of one reader, its 99th
percentile, and how many files the default `RECSYS_MAX_READER_SHARE` would refuse: real readers
should never be refused, an anonymous patron holding most of a file always.
"""

from __future__ import annotations

import pandas as pd

from benchmarks import bench_quality
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.integrations.anonymous import MIN_EVENTS_FOR_SHARE

WINDOWS = {"day": "D", "week": "W", "month": "MS"}


def top_shares(interactions: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Per export file (time window): its events and the share of its biggest reader."""
    rows = []
    for _, part in interactions.groupby(pd.Grouper(key=C.TIMESTAMP, freq=freq)):
        if len(part):
            rows.append((len(part), part[C.READER_ID].value_counts().iloc[0] / len(part)))
    return pd.DataFrame(rows, columns=["events", "top_share"])


def main() -> None:
    limit = Settings(_env_file=None).max_reader_share
    print(f"files with >= {MIN_EVENTS_FOR_SHARE} events; default max_reader_share {limit:.0%}")
    print(f"{'dataset':22} {'file':6} {'files':>6} {'max share':>10} {'p99':>6} {'refused':>8}")
    loaders = {
        "swiss-library-loans": bench_quality.load_swiss,
        "lib-sibgmu": bench_quality.load_sibgmu,
    }
    for name, load in loaders.items():
        dataset = load(bench_quality.DATA / name)
        if dataset is None:
            print(f"{name:22} skipped: not found under ../shared/data")
            continue
        for window, freq in WINDOWS.items():
            shares = top_shares(dataset.interactions, freq)
            judged = shares[shares["events"] >= MIN_EVENTS_FOR_SHARE]["top_share"]
            refused = int((judged > limit).sum())
            print(
                f"{name:22} {window:6} {len(judged):6d} {judged.max():10.1%} "
                f"{judged.quantile(0.99):6.1%} {refused:8d}"
            )
