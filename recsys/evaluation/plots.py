"""Matplotlib figures for reports and notebooks (titles, labelled axes, units).

Figures are built without pyplot, so nothing here touches the global backend or leaks open
figures in a long-running process; notebooks display the returned `Figure`, `save` writes a PNG
(rendered with Agg).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def metrics_bars(table: pd.DataFrame, metrics: Sequence[str], *, title: str) -> Figure:
    """Grouped bars: one group per metric, one bar per model (rows of `table`)."""
    figure = Figure(figsize=(max(6.0, 1.6 * len(metrics) + 2), 4.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(1, len(table.index))
    positions = np.arange(len(metrics))
    for offset, model in enumerate(table.index):
        values = [float(table.loc[model, metric]) for metric in metrics]
        axes.bar(positions + offset * width, values, width, label=str(model))
    axes.set_xticks(positions + width * (len(table.index) - 1) / 2, list(metrics))
    axes.set_xlabel("metric")
    axes.set_ylabel("value (higher is better)")
    axes.set_title(title)
    axes.legend(title="model", fontsize="small")
    return figure


def exposure_curves(curves: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """Concentration of suggestions: share of slots taken by the most-suggested share of books."""
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    axes = figure.subplots()
    for name, curve in curves.items():
        axes.plot(100 * curve["book_share"], 100 * curve["slot_share"], label=str(name))
    axes.plot([0, 100], [0, 100], linestyle="--", color="grey", label="equal exposure")
    axes.set_xlabel("most-suggested books, % of the catalog")
    axes.set_ylabel("suggestion slots they fill, %")
    axes.set_xlim(0, 100)
    axes.set_ylim(0, 100)
    axes.set_title(title)
    axes.legend(title="model", fontsize="small")
    return figure


def segment_bars(table: pd.DataFrame, *, metric: str, segment: str, title: str) -> Figure:
    """Bars of `metric` per segment value (rows) and model (columns of `table`)."""
    figure = Figure(figsize=(7.0, 4.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(1, len(table.columns))
    positions = np.arange(len(table.index))
    for offset, model in enumerate(table.columns):
        axes.bar(
            positions + offset * width, table[model].to_numpy(dtype=float), width, label=str(model)
        )
    axes.set_xticks(
        positions + width * (len(table.columns) - 1) / 2, [str(value) for value in table.index]
    )
    axes.set_xlabel(segment)
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend(title="model", fontsize="small")
    return figure


def per_cut_lines(table: pd.DataFrame, *, metric: str, title: str) -> Figure:
    """One line per model (columns of `table`) over the cuts (rows, in time order)."""
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(table.index))
    for model in table.columns:
        axes.plot(positions, table[model].to_numpy(dtype=float), marker="o", label=str(model))
    axes.set_xticks(positions, [str(cut) for cut in table.index], fontsize="small")
    axes.set_xlabel("cut (training ends at the date; development cuts first)")
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend(title="model", fontsize="small")
    return figure


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` as a PNG (creating the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
