"""`report.md`: the evaluation of a nightly run in a form a librarian can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHOWN = ("ndcg", "page_ndcg", "precision", "recall", "map", "coverage", "novelty", "diversity")
ORDER = ("candidate", "published_refit", "als_default", "popularity")
DESCRIPTIONS = {
    "candidate": "tonight's model",
    "published_refit": "published model's settings, retrained on the same data (the gate's "
    "reference)",
    "als_default": "plain implicit ALS with its default settings (baseline)",
    "popularity": "most borrowed books (baseline)",
}


def write_report(path: Path, metrics: dict[str, Any]) -> None:
    """Write the Markdown report of `metrics` (the content of ``metrics.json``)."""
    k = metrics["k"]
    models = metrics["models"]
    names = [n for n in ORDER if n in models] + sorted(set(models) - set(ORDER))
    columns = _columns(models, k)
    split = metrics["split"]
    lines = [
        f"# Nightly run {metrics['run_id']}",
        "",
        f"Held-out test: {split['test_pairs']} loans by {split['test_readers']} readers from "
        f"{split['test_start']} on; training data: {split['train_interactions']} interactions "
        f"up to {split['train_end']}. The gate compares **{metrics['metric']}** "
        "(higher is better).",
        "",
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name in names:
        values = models[name]["metrics"]
        cells = [_cell(values.get(column)) for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Models:", ""]
    lines += [f"- **{name}**: {DESCRIPTIONS.get(name, name)}" for name in names]
    lines += ["", "Notes:", ""]
    lines += [f"- {note}" for note in metrics.get("notes", [])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _columns(models: dict[str, Any], k: int) -> list[str]:
    available = set().union(*(m["metrics"].keys() for m in models.values()))
    return [f"{name}@{k}" for name in SHOWN if f"{name}@{k}" in available]


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"
