"""Issue 25's protocol on real loan logs in ../shared/data (a dataset that is absent is skipped).

Each log is cut at four moments spread over it (`recsys.evaluation.rolling`): training on
everything before the cut with the catalog as of the cut, testing on the next 10 % of loans. The
first two cuts are the development cuts (where defaults may be chosen), the last two confirm.
On every cut the default model and the baselines, each tuned on validation carved from that
cut's training data in the same run (`recsys.tuning.baselines`), list the test readers' next
books. Shakespeare and Company is judged on a random holdout (20 % of each reader's loans), its
baselines validated on a random holdout of the training loans.

Prints per cut NDCG@10, coverage@10, the share of list slots taken by the top 1 % of books and
recall on books first borrowed in the 90 days before the cut, then the default's lead over the
best baseline (mean over cuts, 90 % bootstrap interval over test readers, worst cut), and
rewrites the generated part of docs/quality.md with a plot per dataset in docs/img/.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m benchmarks bench_rolling``; one
dataset: ``.venv/bin/python -m benchmarks.bench_rolling lib-sibgmu``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.bench_quality import DATA, load_sibgmu, load_swiss
from recsys.columns import Columns as C
from recsys.columns import Events
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.data.works import derive_work_ids
from recsys.evaluation import plots
from recsys.evaluation.rolling_readers import (
    HOLDOUT,
    Lead,
    ReaderCut,
    describe_lead,
    evaluate_reader_cut,
    rolling_reader_quality,
)
from recsys.evaluation.splits import random_holdout
from recsys.models.base import Recommender
from recsys.tuning.baselines import default_and_tuned_baselines, default_lead

K = 10
CUTS = 4
CONFIRMING = 2
HOLDOUT_SHARE = 0.2
SEARCH_SECONDS = 60.0
TARGET_MEAN, TARGET_LOW, TARGET_CUT = 1.25, 1.10, 1.0
DOCS = Path(__file__).resolve().parents[1] / "docs"
METRICS = (f"ndcg@{K}", f"coverage@{K}", f"popular_share@{K}", f"new_book_recall@{K}")


@dataclass(frozen=True)
class Protocol:
    """How one dataset is judged: rolling cuts (time) or a random holdout (no usable dates)."""

    load: Callable[[], Dataset | None]
    rolling: bool
    target: float


def load_shakespeare(root: Path | None = None) -> Dataset | None:
    """Shakespeare and Company's dated borrow events (partial dates dropped); the catalog is the
    events' titles and authors, grouped into works as ingest does."""
    path = (root or DATA / "shakespeare-and-co") / "borrow_events.csv.gz"
    if not path.exists():
        return None
    events = pd.read_csv(path)
    events["t"] = pd.to_datetime(events["event_start"], format="%Y-%m-%d", errors="coerce")
    events = events.dropna(subset=["t", "member", "book"])
    interactions = pd.DataFrame(
        {
            C.READER_ID: events["member"].astype(str),
            C.BOOK_ID: events["book"].astype(str),
            C.EVENT: Events.LOAN,
            C.TIMESTAMP: events["t"].dt.tz_localize("UTC"),
        }
    )
    books = events.drop_duplicates("book")
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: books["book"].astype(str),
            C.TITLE: books["book_title"],
            C.AUTHOR: books["author_name"],
        }
    )
    catalog[C.WORK_ID] = derive_work_ids(catalog)
    return Dataset.from_interactions(interactions, catalog=catalog)


PROTOCOLS: dict[str, Protocol] = {
    "lib-sibgmu": Protocol(load_sibgmu, rolling=True, target=TARGET_MEAN),
    "shakespeare-and-co": Protocol(load_shakespeare, rolling=False, target=1.0),
    "swiss-library-loans": Protocol(load_swiss, rolling=True, target=TARGET_MEAN),
}


def run(name: str, protocol: Protocol, dataset: Dataset, settings: Settings) -> list[ReaderCut]:
    """Every cut of `dataset` under `protocol`, printing progress."""

    def say(line: str) -> None:
        print("  " + line, flush=True)

    def models(train: Dataset) -> dict[str, Recommender]:
        return default_and_tuned_baselines(
            train,
            settings,
            budget_seconds=SEARCH_SECONDS,
            validation_method="temporal" if protocol.rolling else "random",
            progress=say,
        )

    if protocol.rolling:
        return rolling_reader_quality(
            dataset,
            models,
            cuts=CUTS,
            confirming=CONFIRMING,
            k=K,
            seed=settings.seed,
            progress=say,
        )
    split = random_holdout(dataset, share=HOLDOUT_SHARE, seed=settings.seed)
    label = f"random {HOLDOUT_SHARE:.0%} per reader"
    say(f"{label}: {split.describe()['test_readers']} readers")
    cut = evaluate_reader_cut(
        label,
        HOLDOUT,
        split,
        models(split.train),
        k=K,
        new_since=None,
        seed=settings.seed,
        progress=say,
    )
    return [cut]


def verdict(result: Lead, protocol: Protocol) -> str:
    worst = result.per_cut.min()
    if protocol.rolling:
        met = (
            result.ratio >= protocol.target
            and result.low > TARGET_LOW
            and worst >= TARGET_CUT
            and result.coverage >= result.baseline_coverage
        )
        rule = f">= {protocol.target}x mean, low end > {TARGET_LOW}x, no cut < {TARGET_CUT}x"
    else:
        met = result.ratio >= protocol.target and result.coverage >= result.baseline_coverage
        rule = f">= {protocol.target}x"
    return (
        f"{describe_lead(result, k=K)} (tuned ALS); target ({rule}, coverage not below tuned "
        f"ALS): {'met' if met else 'NOT met'}"
    )


def markdown(name: str, cuts: Sequence[ReaderCut], result: Lead, protocol: Protocol) -> str:
    """The dataset's section of docs/quality.md: NDCG per cut and model, the beyond-accuracy
    figures per cut, the lead and the plot."""
    ndcg = per_cut_table(cuts, f"ndcg@{K}")
    lines = [f"### {name}", "", f"NDCG@{K} per cut (role in brackets) and model:", ""]
    lines += _markdown_table(ndcg.T.rename(columns=lambda c: f"{c} [{_role(cuts, c)}]"))
    lines += ["", f"Per cut, every model: {', '.join(METRICS)}.", ""]
    for cut in cuts:
        lines += [f"{cut.name} [{cut.role}]:", ""]
        lines += _markdown_table(cut.table[list(METRICS)])
        lines.append("")
    lines += [verdict(result, protocol) + ".", "", f"![NDCG@{K} per cut]({_plot_path(name)})", ""]
    return "\n".join(lines)


def per_cut_table(cuts: Sequence[ReaderCut], metric: str) -> pd.DataFrame:
    return pd.DataFrame({cut.name: cut.table[metric] for cut in cuts}).T


def _role(cuts: Sequence[ReaderCut], name: str) -> str:
    return next(cut.role for cut in cuts if cut.name == name)


def _plot_path(name: str) -> str:
    return f"img/rolling-{name}.png"


def _markdown_table(table: pd.DataFrame) -> list[str]:
    header = ["model", *map(str, table.columns)]
    rows = [
        [str(index), *(f"{value:.4f}" for value in row)]
        for index, row in zip(table.index, table.to_numpy(dtype=float), strict=True)
    ]
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def write_docs(name: str, section: str) -> Path:
    """Replace dataset `name`'s generated part of docs/quality.md (between its markers) with
    `section`, or append it."""
    path = DOCS / "quality.md"
    text = path.read_text()
    begin, end = f"<!-- rolling {name}: begin -->", f"<!-- rolling {name}: end -->"
    body = f"{begin}\n{section}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), flags=re.DOTALL)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else f"{text}\n{body}\n"
    path.write_text(text)
    return path


def main(names: Sequence[str] = ()) -> None:
    settings = Settings(_env_file=None)
    for name, protocol in PROTOCOLS.items():
        if names and name not in names:
            continue
        dataset = protocol.load()
        if dataset is None:
            print(f"{name}: skipped, not found under {DATA}")
            continue
        print(f"{name}: {len(dataset.interactions):,} interactions", flush=True)
        cuts = run(name, protocol, dataset, settings)
        for cut in cuts:
            print(f"{cut.name} [{cut.role}]")
            print(cut.table[list(METRICS)].to_string(float_format=lambda v: f"{v:.4f}"))
        result = default_lead(cuts, k=K)
        print(verdict(result, protocol), flush=True)
        figure = plots.per_cut_lines(
            per_cut_table(cuts, f"ndcg@{K}"), metric=f"NDCG@{K}", title=f"{name}: NDCG@{K} per cut"
        )
        plots.save(figure, DOCS / _plot_path(name))
        print(f"wrote {write_docs(name, markdown(name, cuts, result, protocol))}")


if __name__ == "__main__":
    main(sys.argv[1:])
