"""Figures of the librarians' notebooks (built without pyplot, like `recsys.evaluation.plots`).

Every figure has a title, labelled axes with units, and says so in words when there is nothing
to draw yet, so a report never shows an empty frame without explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from recsys.evaluation.review import NIGHTLY_LABELS
from recsys.evaluation.review_readers import ReaderPanel


def _empty(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, wrap=True)


def _legend(axes: Axes, title: str | None = None) -> None:
    """Legend beside the plot, so it never hides a bar or a point."""
    axes.legend(title=title, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _legend_below(figure: Figure, axes: Axes, title: str | None = None) -> None:
    """One legend under the plot, for horizontal bars whose long labels need the width."""
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        title=title,
        fontsize="small",
        loc="outside lower center",
        ncols=min(len(labels), 3),
    )


def _grouped_bars(axes: Axes, table: pd.DataFrame, *, horizontal: bool = False) -> None:
    """One group per row of `table`, one bar per column."""
    width = 0.8 / max(1, len(table.columns))
    positions = np.arange(len(table.index))
    for offset, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        if horizontal:
            axes.barh(positions + offset * width, values, width, label=str(column))
        else:
            axes.bar(positions + offset * width, values, width, label=str(column))
    ticks = positions + width * (len(table.columns) - 1) / 2
    labels = [str(value) for value in table.index]
    if horizontal:
        axes.set_yticks(ticks, labels)
        axes.invert_yaxis()
    else:
        axes.set_xticks(ticks, labels)


def quality_bars(table: pd.DataFrame, *, title: str) -> Figure:
    """Bars of the percentage columns of `review.quality_table` (one colour per model)."""
    columns = [c for c in table.columns if c.endswith("(%)")]
    figure = Figure(figsize=(9.0, 4.8), layout="constrained")
    axes = figure.subplots()
    _grouped_bars(axes, table.loc[:, columns].T.rename(index=_wrap))
    axes.set_xlabel("measure (on the newest loans, which no model saw)")
    axes.set_ylabel("% (higher is better)")
    axes.set_title(title)
    _legend(axes, "model")
    return figure


def run_bars(table: pd.DataFrame, *, k: int, title: str) -> Figure:
    """Runs A and B on today's holdout (`RunComparison.same_holdout`), in percent."""
    names = [f"{m}@{k}" for m in ("hit_rate", "precision", "recall", "coverage")]
    labels = [
        "readers who borrowed\na suggested book",
        "suggestions that\nwere borrowed",
        "borrowed books that\nhad been suggested",
        "collection\nsuggested",
    ]
    shown = 100.0 * table.loc[[n for n in names if n in table.index], ["run A", "run B"]]
    figure = Figure(figsize=(9.0, 4.8), layout="constrained")
    axes = figure.subplots()
    _grouped_bars(axes, shown.set_axis(labels[: len(shown)]))
    axes.set_xlabel("measure (on the newest loans, which neither refitted model saw)")
    axes.set_ylabel("% (higher is better)")
    axes.set_title(title)
    _legend(axes, "run")
    return figure


def _wrap(text: str, width: int = 16) -> str:
    words, lines, line = str(text).split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def history_lines(history: pd.DataFrame, *, metric: str = "ndcg@10", title: str) -> Figure:
    """`metric` per nightly run and model over time; filled dots mark runs that were published."""
    figure = Figure(figsize=(9.0, 4.8), layout="constrained")
    axes = figure.subplots()
    chosen = history.loc[history["metric"] == metric] if len(history) else history
    if chosen.empty:
        _empty(
            axes,
            "No nightly run has been recorded yet: the trend appears after the first "
            "`recsys nightly`.",
        )
    for model, label in NIGHTLY_LABELS.items():
        rows = chosen.loc[chosen["model"] == model].sort_values("started_at")
        if rows.empty:
            continue
        line = axes.plot(
            rows["started_at"], rows["value"], marker="o", markerfacecolor="white", label=label
        )[0]
        published = rows.loc[rows["status"] == "published"]
        axes.plot(
            published["started_at"],
            published["value"],
            linestyle="none",
            marker="o",
            color=line.get_color(),
        )
    axes.set_xlabel("date of the nightly run (UTC)")
    axes.set_ylabel(f"{metric} (higher is better)")
    axes.set_title(title)
    if not chosen.empty:
        _legend(axes, "filled dot = published")
        figure.autofmt_xdate()
        first, last = chosen["started_at"].min(), chosen["started_at"].max()
        if last - first < pd.Timedelta(days=2):  # one night: a readable week around it
            axes.set_xlim(first - pd.Timedelta(days=3), last + pd.Timedelta(days=3))
    return figure


def long_tail_bars(table: pd.DataFrame, *, title: str) -> Figure:
    """Share of loans and of each model's suggestions per group of books (`long_tail_table`)."""
    columns = [c for c in table.columns if c != "books"]
    shown = table.loc[:, columns].rename(columns=lambda c: c.replace(": suggestions (%)", ""))
    shown = shown.rename(columns={"loans (%)": "loans (what readers borrowed)"})
    figure = Figure(figsize=(9.0, 4.8), layout="constrained")
    axes = figure.subplots()
    _grouped_bars(
        axes, shown.rename(index=lambda g: _wrap(f"{g} ({table.loc[g, 'books']:,} books)"))
    )
    axes.set_xlabel("books, grouped by how often they were borrowed before the test period")
    axes.set_ylabel("% of loans or of suggestion slots")
    axes.set_title(title)
    _legend(axes, "share of")
    return figure


def branch_bars(table: pd.DataFrame, *, title: str) -> Figure:
    """Per branch: held books suggested (%) and suggestions the branch holds (%)."""
    columns = ["held books suggested (%)", "suggestions held there (%)"]
    figure = Figure(figsize=(9.0, 0.6 * max(len(table), 3) + 1.8), layout="constrained")
    axes = figure.subplots()
    if table.empty:
        _empty(axes, "No branch information in the loans.")
    else:
        labels = [
            f"{b} ({int(n):,} readers)" for b, n in zip(table.index, table["readers"], strict=True)
        ]
        _grouped_bars(axes, table.loc[:, columns].set_axis(labels), horizontal=True)
        _legend_below(figure, axes)
    axes.set_xlabel("%")
    axes.set_ylabel("branch where the readers borrow most")
    axes.set_xlim(0, 100)
    axes.set_title(title)
    return figure


def reason_bars(counts: pd.DataFrame, *, title: str) -> Figure:
    """Books never suggested, per reason (`review.reason_counts`)."""
    figure = Figure(figsize=(9.0, 3.8), layout="constrained")
    axes = figure.subplots()
    if counts["books"].sum() == 0:
        _empty(axes, "Every book in the catalog was suggested at least once.")
    else:
        labels = [_wrap(reason, 30) for reason in counts.index]
        bars = axes.barh(labels, counts["books"].to_numpy(dtype=float), color="tab:orange")
        axes.bar_label(bars, labels=[f"{n:,}" for n in counts["books"]], padding=3)
        axes.invert_yaxis()
    axes.set_xlabel("books never suggested (count)")
    axes.set_ylabel("likeliest reason")
    axes.set_title(title)
    return figure


def segment_lines(table: pd.DataFrame, *, metric: str, segment: str, title: str) -> Figure:
    """Horizontal bars of `metric` per segment value and model (`review.segment_quality`)."""
    models = [c for c in table.columns if c != "readers"]
    labels = [
        f"{value} ({int(n):,} readers)"
        for value, n in zip(table.index, table["readers"], strict=True)
    ]
    figure = Figure(
        figsize=(9.0, 0.55 * max(len(table), 3) * max(1, len(models)) / 2 + 2), layout="constrained"
    )
    axes = figure.subplots()
    if table.empty:
        _empty(axes, f"No {segment} group has enough readers to be shown.")
    else:
        _grouped_bars(axes, table.loc[:, models].set_axis(labels), horizontal=True)
        _legend_below(figure, axes, "model")
    axes.set_xlabel(f"{metric} (higher is better)")
    axes.set_ylabel(segment)
    axes.set_title(title)
    return figure


def reader_subjects(panels: Sequence[ReaderPanel], *, title: str) -> Figure:
    """Per reader: subjects of their loans beside the subjects of their suggestions (%)."""
    figure = Figure(figsize=(9.0, 3.2 * max(1, len(panels)) + 0.6), layout="constrained")
    axes_list = figure.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    for axes, panel in zip(axes_list, panels, strict=False):
        if panel.subjects.empty:
            _empty(axes, "No subject headings in this reader's books.")
        else:
            _grouped_bars(axes, panel.subjects, horizontal=True)
        axes.set_title(panel.label, loc="left")
        axes.set_xlabel("% of the books (a book can have several subjects)")
        axes.set_ylabel("subject")
    drawn = [axes for axes in axes_list if axes.get_legend_handles_labels()[0]]
    if drawn:
        _legend_below(figure, drawn[0])
    figure.suptitle(title)
    return figure


def overlap_histogram(overlap: pd.Series, *, k: int, title: str) -> Figure:
    """How many readers keep how much of their list between two runs."""
    figure = Figure(figsize=(8.0, 4.5), layout="constrained")
    axes = figure.subplots()
    values = 100.0 * overlap.to_numpy(dtype=float)
    if len(values) == 0:
        _empty(axes, "No reader got a list from both runs.")
    else:
        axes.hist(values, bins=list(range(0, 101, 10)), color="tab:blue", edgecolor="white")
    axes.set_xlabel(f"share of the {k} suggestions that are the same in both runs (%)")
    axes.set_ylabel("readers")
    axes.set_xlim(0, 100)
    axes.set_title(title)
    return figure


def gained_lost_bars(table: pd.DataFrame, *, n: int = 10, title: str) -> Figure:
    """The `n` books gaining and the `n` losing the most lists from run A to run B."""
    figure = Figure(figsize=(9.0, 0.35 * 2 * n + 1.8), layout="constrained")
    axes = figure.subplots()
    changed = table.loc[table["change"] != 0]
    chosen = pd.concat([changed.head(n), changed.tail(n)]).drop_duplicates()
    chosen = chosen.loc[~chosen.index.duplicated()].sort_values("change")
    if chosen.empty:
        _empty(axes, "No book gained or lost a list: both runs suggest the same books.")
    else:
        names = (
            chosen["title"]
            if "title" in chosen.columns
            else pd.Series(chosen.index, index=chosen.index)
        )
        labels = [_short(str(t)) for t in names.fillna("(no catalog record)")]
        colors = ["tab:green" if v > 0 else "tab:red" for v in chosen["change"]]
        axes.barh(np.arange(len(chosen)), chosen["change"].to_numpy(dtype=float), color=colors)
        axes.set_yticks(np.arange(len(chosen)), labels)
        axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_xlabel("change in the number of readers' lists (run B minus run A)")
    axes.set_ylabel("book")
    axes.set_title(title)
    return figure


def _short(text: str, width: int = 45) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
