"""Tables, run comparisons and the written report (metrics.json, report.md, PNG plots).

The table functions take `EvaluationResult` / `ComparisonResult` objects or plain frames so that
the librarians' notebooks can call them directly; none of them prints or reads files except
`write_report` and `load_metrics`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.columns import Columns as C
from recsys.display import readable
from recsys.evaluation import plots
from recsys.evaluation.evaluate import ComparisonResult, EvaluationResult
from recsys.evaluation.metrics import ACTIVITY_BUCKETS

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
SEGMENTS = ("activity", "branch", "audience")
SEGMENT_METRICS = ("ndcg", "recall", "precision", "hit_rate")
MAIN_METRICS = (
    "ndcg",
    "recall",
    "precision",
    "map",
    "mrr",
    "hit_rate",
    "coverage",
    "record_ndcg",
    "record_recall",
)


def comparison_table(
    comparison: ComparisonResult, metrics: Sequence[str] = MAIN_METRICS
) -> pd.DataFrame:
    """Models x (``metric@k`` for `metrics`, fit and recommend seconds), best NDCG first."""
    k = comparison.k
    table = comparison.table()
    columns = [f"{name}@{k}" for name in metrics] + ["fit_seconds", "recommend_seconds"]
    return table.loc[:, columns].sort_values(f"ndcg@{k}", ascending=False)


def coverage_table(comparison: ComparisonResult) -> pd.DataFrame:
    """Per model: how much of the collection is suggested and how concentrated suggestions are."""
    k = comparison.k
    rows = {}
    for name, result in comparison.results.items():
        rows[name] = {
            "books_suggested": int((result.exposure > 0).sum()),
            "catalog_books": len(result.exposure),
            f"coverage@{k}": result.summary[f"coverage@{k}"],
            f"popular_share@{k}": result.summary[f"popular_share@{k}"],
            f"gini@{k}": result.summary[f"gini@{k}"],
            f"novelty@{k}": result.summary[f"novelty@{k}"],
            f"diversity@{k}": result.summary[f"diversity@{k}"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def segment_table(
    result: EvaluationResult, *, by: str = "activity", metrics: Sequence[str] = SEGMENT_METRICS
) -> pd.DataFrame:
    """Mean per-reader metrics per segment value, with the number of readers in each.

    `by` is ``activity``, ``branch``, ``audience`` or any column of ``result.per_reader``.
    """
    frame = result.per_reader
    if by not in frame.columns:
        raise ValueError(f"by must be a column of per_reader such as {SEGMENTS}; got {by!r}")
    grouped = frame.groupby(by, observed=True)
    table = grouped[list(metrics)].mean()
    table.insert(0, "readers", grouped.size())
    if by == "activity":
        table = table.reindex([b for b in ACTIVITY_BUCKETS if b in table.index])
    return table


def segment_comparison(
    comparison: ComparisonResult, *, by: str = "activity", metric: str = "ndcg"
) -> pd.DataFrame:
    """Segment values x models, one metric (the readers are the same for every model)."""
    return pd.DataFrame(
        {
            name: segment_table(result, by=by, metrics=[metric])[metric]
            for name, result in comparison.results.items()
        }
    )


def exposure_curve(recs: pd.DataFrame, catalog_books: pd.Index | None = None) -> pd.DataFrame:
    """Concentration curve: books sorted from most to least suggested.

    Returns ``book_share`` (0..1, share of the catalog) and ``slot_share`` (share of all
    suggestion slots filled by those books). With `catalog_books`, never-suggested books are
    part of the catalog, so the curve reaches 100 % of slots before 100 % of books.
    """
    counts = recs[C.BOOK_ID].astype(str).value_counts()
    if catalog_books is not None:
        counts = counts.reindex(catalog_books.union(counts.index, sort=False), fill_value=0)
    values = np.sort(counts.to_numpy(dtype=float))[::-1]
    total = values.sum()
    n = len(values)
    slot_share = np.cumsum(values) / total if total > 0 else np.zeros(n)
    return pd.DataFrame(
        {
            "book_share": np.r_[0.0, np.arange(1, n + 1) / max(n, 1)],
            "slot_share": np.r_[0.0, slot_share],
        }
    )


def compare_runs(
    a: Mapping[str, float], b: Mapping[str, float], *, names: tuple[str, str] = ("a", "b")
) -> pd.DataFrame:
    """Metric by metric: the two values, the change (b - a) and the relative change.

    `a` and `b` are summaries (``EvaluationResult.summary`` or one model's ``metrics`` entry of
    a ``metrics.json``); only metrics both define are compared.
    """
    first, second = names
    if first == second:
        raise ValueError(f"names must differ; got {names!r}")
    shared = [key for key in a if key in b]
    rows = []
    for key in shared:
        before, after = float(a[key]), float(b[key])
        relative = (after - before) / abs(before) if before != 0 else float("nan")
        rows.append(
            {
                "metric": key,
                first: before,
                second: after,
                "change": after - before,
                "relative_change": relative,
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def list_overlap(recs_a: pd.DataFrame, recs_b: pd.DataFrame) -> pd.Series:
    """Per reader present in both: Jaccard overlap of the two lists (1 = the same books)."""
    pairs_a = recs_a[[C.READER_ID, C.BOOK_ID]].astype(str).drop_duplicates()
    pairs_b = recs_b[[C.READER_ID, C.BOOK_ID]].astype(str).drop_duplicates()
    readers = pd.Index(pairs_a[C.READER_ID].unique()).intersection(pairs_b[C.READER_ID].unique())
    pairs_a = pairs_a.loc[pairs_a[C.READER_ID].isin(readers)]
    pairs_b = pairs_b.loc[pairs_b[C.READER_ID].isin(readers)]
    shared = pairs_a.merge(pairs_b, on=[C.READER_ID, C.BOOK_ID]).groupby(C.READER_ID).size()
    size_a = pairs_a.groupby(C.READER_ID).size()
    size_b = pairs_b.groupby(C.READER_ID).size()
    shared = shared.reindex(size_a.index, fill_value=0)
    return (shared / (size_a + size_b.reindex(size_a.index) - shared)).rename("overlap")


def books_gained_lost(
    recs_a: pd.DataFrame, recs_b: pd.DataFrame, catalog: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per book suggested by either: lists it is in under a and b, and the change (b - a).

    Sorted by change, biggest gains first; with `catalog`, titles and authors are added.
    """
    exposure_a = recs_a[C.BOOK_ID].astype(str).value_counts().rename("lists_a")
    exposure_b = recs_b[C.BOOK_ID].astype(str).value_counts().rename("lists_b")
    table = pd.concat([exposure_a, exposure_b], axis=1).fillna(0).astype(int)
    table["change"] = table["lists_b"] - table["lists_a"]
    table = table.rename_axis(C.BOOK_ID).sort_values(["change", "lists_b"], ascending=False)
    if catalog is not None:
        info = readable(catalog.assign(**{C.BOOK_ID: catalog[C.BOOK_ID].astype(str)}))
        info = info.set_index(C.BOOK_ID)
        columns = [c for c in (C.TITLE, C.AUTHOR) if c in info.columns]
        table = table.join(info.loc[~info.index.duplicated(), columns])
    return table


def never_suggested(
    exposure: pd.Series, popularity: pd.Series, catalog: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Catalog books in no list, with their training readers (0 = nobody borrowed them).

    `exposure` is ``EvaluationResult.exposure``, `popularity` is
    ``metrics.book_popularity(split.train)``; with `catalog`, title, author and audience are
    added. Most borrowed first: those are the surprising ones.
    """
    missing = exposure.index[exposure.to_numpy() == 0]
    table = pd.DataFrame(
        {"training_readers": popularity.reindex(missing, fill_value=0).astype(int)},
        index=pd.Index(missing, name=C.BOOK_ID),
    )
    if catalog is not None:
        info = readable(catalog.assign(**{C.BOOK_ID: catalog[C.BOOK_ID].astype(str)}))
        info = info.set_index(C.BOOK_ID)
        columns = [c for c in (C.TITLE, C.AUTHOR, C.AUDIENCE) if c in info.columns]
        table = table.join(info.loc[~info.index.duplicated(), columns])
    return table.sort_values("training_readers", ascending=False, kind="stable")


def write_report(
    comparison: ComparisonResult, out_dir: Path, *, title: str = "Recommendation quality"
) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md`` and PNG plots into `out_dir`; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    k = comparison.k
    table = comparison_table(comparison)
    paths: dict[str, Path] = {}
    paths["metrics_plot"] = plots.save(
        plots.metrics_bars(
            table,
            [f"{m}@{k}" for m in ("ndcg", "recall", "precision", "map")],
            title=f"Ranking quality at {k} on the held-out loans",
        ),
        out_dir / "metrics.png",
    )
    curves = {
        name: exposure_curve(result.recommendations, result.exposure.index)
        for name, result in comparison.results.items()
    }
    paths["exposure_plot"] = plots.save(
        plots.exposure_curves(curves, title="How concentrated suggestions are on few books"),
        out_dir / "exposure.png",
    )
    activity = segment_comparison(comparison, by="activity", metric="ndcg")
    paths["segments_plot"] = plots.save(
        plots.segment_bars(
            activity,
            metric=f"NDCG@{k}",
            segment="reader activity",
            title=f"NDCG@{k} for light, medium and heavy readers",
        ),
        out_dir / "segments.png",
    )
    paths["metrics"] = out_dir / METRICS_FILE
    paths["metrics"].write_text(json.dumps(metrics_document(comparison), indent=2, sort_keys=True))
    paths["report"] = out_dir / REPORT_FILE
    paths["report"].write_text(_markdown(comparison, title=title, plots=paths))
    return paths


def metrics_document(comparison: ComparisonResult) -> dict[str, Any]:
    """The JSON written to ``metrics.json`` (finite numbers only; NaN becomes null)."""
    models = {}
    for name, result in comparison.results.items():
        segments = {by: segment_table(result, by=by).to_dict(orient="index") for by in SEGMENTS}
        models[name] = {
            "metrics": result.summary,
            "fit_seconds": comparison.fit_seconds.get(name),
            "recommend_seconds": comparison.recommend_seconds.get(name),
            "params": comparison.params.get(name, {}),
            "segments": segments,
        }
    document = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "k": comparison.k,
        "split": comparison.split,
        "models": models,
    }
    return _finite(document)


def load_metrics(path: Path) -> dict[str, Any]:
    """Read a ``metrics.json`` (a file or the folder holding it)."""
    if path.is_dir():
        path = path / METRICS_FILE
    return json.loads(path.read_text())


def _markdown(comparison: ComparisonResult, *, title: str, plots: Mapping[str, Path]) -> str:
    k = comparison.k
    split = comparison.split
    lines = [
        f"# {title}",
        "",
        f"Split: **{split.get('kind')}**; {split.get('test_readers', 0):,} test readers, "
        f"{split.get('test_pairs', 0):,} held-out (reader, book) pairs; "
        f"{split.get('cold_start_readers', 0):,} readers without training loans not scored; "
        f"{split.get('dropped_already_borrowed', 0):,} held-out loans of books the reader had "
        "already borrowed not counted.",
        "",
        f"## Ranking quality at {k}",
        "",
        _markdown_table(comparison_table(comparison)),
        "",
        f"![ranking quality]({plots['metrics_plot'].name})",
        "",
        "## Coverage and popularity bias",
        "",
        _markdown_table(coverage_table(comparison)),
        "",
        f"![exposure]({plots['exposure_plot'].name})",
        "",
        "## By reader activity (NDCG)",
        "",
        _markdown_table(segment_comparison(comparison, by="activity", metric="ndcg")),
        "",
        f"![segments]({plots['segments_plot'].name})",
        "",
        "## How to read these numbers",
        "",
        f"- NDCG@{k}, recall@{k}, precision@{k}: how well the top {k} suggestions anticipate the "
        "books readers actually borrowed next (higher is better).",
        "- Coverage: share of the collection suggested to at least one reader. Popular share: "
        "share of suggestions taken by the 1 % most borrowed books. Gini: 0 when every book is "
        "suggested equally often, near 1 when a few books take every slot.",
        "- Novelty: how unusual the suggested books are (bits; higher = less mainstream). "
        "Diversity: 1 - average subject overlap within a list.",
        "",
    ]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    header = [str(table.index.name or ""), *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        cells = [_cell(value) for value in row.to_numpy()]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
