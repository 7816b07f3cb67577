"""The publish gate: a new model replaces the served one only if it is sane and not worse.

Refusals, in the order checked: the bundle fails verification (missing file, checksum), it may
hold a reader erased after its data were read (`recsys.artifacts.check_erasures`), it is
empty (no fitted numbers), its arrays hold NaN or infinite values, it gives no lists to readers
with loans, its scores are not finite, its most borrowed books get no per-book list, its
evaluation is missing, or it scores worse than the published model by more than
``gate_tolerance`` (relative) on ``gate_metric``, or on the catalog pages' `PAGE_METRIC`. The
published model is compared as retrained with its own parameters on the candidate's training
split, so both are judged on the same data (see `recsys.nightly.steps.evaluate`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.exceptions import BundleIntegrityError, ErasurePendingError

METRICS_FILE = "metrics.json"
REFERENCE_ENTRY = "published_refit"
#: The catalog pages' figure the gate watches beside ``gate_metric``: NDCG@10 of the per-book
#: list of each test reader's last loan (`recsys.evaluation.book_pages`).
PAGE_METRIC = "page_ndcg@10"
#: Books whose per-book lists the sanity check asks for.
SANITY_BOOKS = 20


@dataclass(frozen=True)
class GateDecision:
    """Whether to publish, and why, in words an operator can act on.

    Attributes
    ----------
    passed
        True when the run may be published.
    reason
        ``passed``, ``first_model``, ``checksum``, ``erasure``, ``empty``, ``non_finite``,
        ``no_metrics``, ``worse`` or ``worse_pages``.
    explanation
        One plain-words paragraph for the log and the run summary.
    """

    run_id: str
    passed: bool
    reason: str
    explanation: str
    metric: str
    candidate: float | None = None
    published: float | None = None
    published_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    settings: Settings, run_id: str, *, readers: Sequence[str], latest_erasure: int
) -> GateDecision:
    """Judge run `run_id` against the published model.

    Parameters
    ----------
    readers
        A few pseudonymous reader ids with loans (for the score sanity check).
    latest_erasure
        The id of the store's latest erasure (`recsys.erasure.latest_erasure`).
    """
    models_dir = Path(settings.models_dir)
    published_id = artifacts.current_run_id(models_dir)
    path = artifacts.run_path(models_dir, run_id)
    metric = settings.gate_metric

    def refuse(reason: str, what: str, **values: Any) -> GateDecision:
        keep = (
            f"The published model (run {published_id}) stays in service."
            if published_id
            else "No model has been published yet, so the service has nothing new to serve."
        )
        return GateDecision(
            run_id=run_id,
            passed=False,
            reason=reason,
            metric=metric,
            published_run_id=published_id,
            explanation=f"The new model (run {run_id}) was not published: {what} {keep}",
            **values,
        )

    try:
        # verifies every checksum first
        bundle = artifacts.load_bundle(path, latest_erasure=latest_erasure)
    except BundleIntegrityError as error:
        return refuse(
            "checksum",
            f"its files are damaged or incomplete ({error}). Nothing was "
            "changed; the next nightly run trains a fresh model, and if this repeats "
            "the disk holding the models directory should be checked.",
        )
    except ErasurePendingError as error:
        return refuse("erasure", f"{error}.")
    if _is_empty(path):
        return refuse(
            "empty",
            "it learned nothing (its arrays are empty), which happens when "
            "training saw no usable loans.",
        )
    bad_arrays = _non_finite_arrays(path)
    if bad_arrays:
        return refuse(
            "non_finite",
            f"its learned numbers contain NaN or infinite values (in "
            f"{', '.join(bad_arrays)}), so it cannot rank books. This usually means "
            "training diverged; try fewer factors or more regularization.",
        )
    recs = bundle.model.recommend(list(readers), k=10, exclude_seen=True) if readers else None
    if recs is not None and recs.empty:
        return refuse(
            "empty", f"it gave no recommendations to any of {len(readers)} readers with loans."
        )
    if recs is not None and not np.isfinite(recs[C.SCORE].to_numpy(dtype=float)).all():
        return refuse(
            "non_finite",
            "some of its recommendation scores are NaN or infinite, so "
            "its lists would be in arbitrary order.",
        )
    if not _has_book_lists(bundle.model, bundle.catalog):
        return refuse(
            "empty",
            f'it gave no per-book list ("readers who borrowed this also borrowed") to any of '
            f"the {SANITY_BOOKS} most borrowed books, so catalog pages would show only padding.",
        )
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
        candidate = float(metrics["models"]["candidate"]["metrics"][metric])
    except (OSError, ValueError, KeyError, TypeError):
        return refuse(
            "no_metrics",
            f"its evaluation ({METRICS_FILE} with {metric} of the "
            "candidate) is missing or unreadable; run `recsys train` again.",
        )
    if not math.isfinite(candidate):
        return refuse("non_finite", f"its {metric} on the holdout is {candidate}.")
    reference = _reference(metrics, metric)
    if published_id is None or published_id == run_id or reference is None:
        first = published_id is None
        return GateDecision(
            run_id=run_id,
            passed=True,
            reason="first_model" if first else "passed",
            metric=metric,
            candidate=candidate,
            published_run_id=published_id,
            explanation=(
                f"The new model (run {run_id}) passed its checks (files intact, finite scores, "
                f"non-empty lists) and scores {metric} = {candidate:.4f} on the held-out newest "
                "loans. "
                + (
                    "It is the first model, so there is nothing to compare it with."
                    if first
                    else "There was no comparable score of the published model."
                )
            ),
        )
    published = reference
    floor = published * (1 - settings.gate_tolerance)
    change = (candidate - published) / published if published > 0 else 0.0
    how = "retrained with its own parameters on the same data"
    values = {"candidate": candidate, "published": published}
    pages = _page_figures(metrics)
    if (
        candidate >= floor
        and pages is not None
        and pages[0] < pages[1] * (1 - settings.gate_tolerance)
    ):
        page_change = (pages[0] - pages[1]) / pages[1]
        return refuse(
            "worse_pages",
            f"its per-reader lists hold up ({metric} = {candidate:.4f} against "
            f"{published:.4f}), but its catalog pages' lists score {PAGE_METRIC} = "
            f"{pages[0]:.4f}, {-page_change:.1%} below the published model's {pages[1]:.4f} "
            f"({how}), and the allowed drop is {settings.gate_tolerance:.0%} "
            f"(RECSYS_GATE_TOLERANCE). If the change is expected, publish it by hand with "
            f"`recsys publish {run_id}`.",
            **values,
        )
    if candidate < floor:
        return refuse(
            "worse",
            f"on the held-out newest loans it scores {metric} = {candidate:.4f}, "
            f"{-change:.1%} below the published model's {published:.4f} ({how}), and the "
            f"allowed drop is {settings.gate_tolerance:.0%} (RECSYS_GATE_TOLERANCE). Read "
            f"report.md in the run directory; if the change is expected, publish it by hand "
            f"with `recsys publish {run_id}`.",
            **values,
        )
    return GateDecision(
        run_id=run_id,
        passed=True,
        reason="passed",
        metric=metric,
        published_run_id=published_id,
        **values,
        explanation=(
            f"The new model (run {run_id}) passed: its files are intact, its scores finite, and "
            f"on the held-out newest loans it scores {metric} = {candidate:.4f} against "
            f"{published:.4f} for the published model (run {published_id}, {how}), a change of "
            f"{change:+.1%} within the allowed drop of {settings.gate_tolerance:.0%}"
            + (
                f"; its catalog pages score {PAGE_METRIC} = {pages[0]:.4f} against {pages[1]:.4f}."
                if pages is not None
                else "."
            )
        ),
    )


def _page_figures(metrics: dict[str, Any]) -> tuple[float, float] | None:
    """The candidate's and the published refit's `PAGE_METRIC` (None if either is missing:
    runs evaluated before catalog pages were measured)."""
    try:
        candidate = float(metrics["models"]["candidate"]["metrics"][PAGE_METRIC])
    except (KeyError, TypeError, ValueError):
        return None
    reference = _reference(metrics, PAGE_METRIC)
    if reference is None or reference <= 0 or not math.isfinite(candidate):
        return None
    return candidate, reference


def _has_book_lists(model: Any, catalog: Any) -> bool:
    """Whether the most borrowed catalog books get a per-book list (a model whose links
    vanished gives none). A catalog without borrowed books has nothing to check."""
    books = [str(b) for b in catalog[C.BOOK_ID].astype(str).tolist()]
    popularity = model.book_popularity(books)
    order = np.argsort(-popularity, kind="stable")[:SANITY_BOOKS]
    borrowed = [books[i] for i in order if popularity[i] > 0]
    return not borrowed or not model.similar_books(borrowed, k=10).empty


def _reference(metrics: dict[str, Any], metric: str) -> float | None:
    """The published model's score, refitted on the candidate's split (None if unavailable)."""
    try:
        value = float(metrics["models"][REFERENCE_ENTRY]["metrics"][metric])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _float_arrays(path: Path) -> dict[str, np.ndarray]:
    """The model's floating-point arrays in the bundle at `path`."""
    return {
        name: value
        for name, value in artifacts.model_arrays(path).items()
        if np.issubdtype(value.dtype, np.floating)
    }


def _non_finite_arrays(path: Path) -> list[str]:
    return [name for name, value in _float_arrays(path).items() if not np.isfinite(value).all()]


def _is_empty(path: Path) -> bool:
    """True when no float array beyond single values (times, constants) holds any number."""
    learned = [value for value in _float_arrays(path).values() if value.size != 1]
    return not learned or all(value.size == 0 for value in learned)
