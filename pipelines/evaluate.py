"""`recsys evaluate`: train candidate models on one split of the stored data and compare them.

Popularity and plain implicit ALS (its default parameters) are always in the comparison. Prints
the comparison table and writes metrics.json, report.md and PNG plots into the output folder.
With ``--book-lists`` it scores the catalog pages' lists instead (`pipelines.evaluate_pages`).
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path

from pipelines.evaluate_pages import run_book_lists
from recsys.config import Settings
from recsys.consent import load_training_dataset
from recsys.db.engine import make_engine
from recsys.evaluation.evaluate import compare_models
from recsys.evaluation.report import comparison_table, write_report
from recsys.evaluation.splits import make_split
from recsys.exceptions import RecsysError
from recsys.models import registry
from recsys.models.base import Recommender

log = logging.getLogger(__name__)

SPLITS = ("temporal", "leave-last", "random")
DEFAULT_MODELS = "hybrid,als,knn_bm25"
#: Names for registry models with one parameter fixed, as the comparison table shows them.
ALIASES: dict[str, tuple[str, dict[str, str]]] = {
    "knn_bm25": ("knn", {"similarity": "bm25"}),
    "knn_cosine": ("knn", {"similarity": "cosine"}),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="compare recommenders on a holdout of the stored loans (with popularity and "
        "plain-ALS baselines)",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="temporal",
        help="temporal: last share of loans by time (default); leave-last: each "
        "reader's last loan; random: a random share per reader",
    )
    parser.add_argument(
        "--test-share",
        type=float,
        default=0.1,
        help="held-out share of loans (temporal, random); default 0.1",
    )
    parser.add_argument(
        "--k", type=_positive_int, default=10, help="list length scored; default 10"
    )
    parser.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated model names from {_known_names()}; "
        f"'hybrid' is the library default; default {DEFAULT_MODELS}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report folder; default reports/evaluation-<UTC time>",
    )
    parser.add_argument(
        "--book-lists",
        action="store_true",
        help="score the catalog pages' lists (per book and per session) of the default model "
        "on rolling cuts, beside co-borrowing, ALS, item-KNN and catalog-only baselines",
    )
    parser.add_argument(
        "--cuts",
        type=_positive_int,
        default=4,
        help="rolling cuts for --book-lists (the later half confirm); default 4",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    candidates = _candidates(args.models, settings)
    dataset = load_training_dataset(make_engine(settings), settings)
    if dataset.interactions.empty:
        raise RecsysError("the store holds no loans yet; ingest exports first (recsys ingest)")
    out = args.out or Path("reports") / f"evaluation-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if args.book_lists:
        return run_book_lists(dataset, settings, k=args.k, cuts=args.cuts, out=out)
    try:
        split = make_split(dataset, args.split, test_share=args.test_share, seed=settings.seed)
    except ValueError as error:
        raise RecsysError(str(error)) from None
    if split.test.empty:
        raise RecsysError(
            f"the {args.split} split left no held-out loans of known readers; "
            "use a larger --test-share or more data"
        )
    log.info("split %s", split.describe())
    comparison = compare_models(candidates, split, k=args.k, progress=log.info, seed=settings.seed)
    print(comparison_table(comparison).to_string(float_format=lambda v: f"{v:.4f}"))
    paths = write_report(comparison, out)
    print(f"report: {paths['report']}  metrics: {paths['metrics']}")
    return 0


def _candidates(names: str, settings: Settings) -> dict[str, Recommender]:
    """Model instances by name; the default model gets the library's settings."""
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    if not chosen:
        raise RecsysError("--models is empty; name at least one model")
    unknown = sorted(set(chosen) - set(_known_names()))
    if unknown:
        raise RecsysError(f"--models has unknown names {unknown}; choose from {_known_names()}")
    models = {}
    for name in chosen:
        if name == registry.DEFAULT_MODEL:
            models[name] = registry.default_model(settings)
            continue
        registered, params = ALIASES.get(name, (name, {}))
        model = registry.create(registered, **params)
        if "random_state" in model.get_params():
            model.set_params(random_state=settings.seed)
        models[name] = model
    return models


def _known_names() -> list[str]:
    return sorted([*registry.MODELS, *ALIASES])


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value}")
    return value
