"""Offline evaluation: splits, metrics, model comparison, reports and plots for the notebooks."""

from recsys.evaluation.evaluate import (
    ComparisonResult,
    EvaluationResult,
    compare_models,
    evaluate_recommendations,
)
from recsys.evaluation.splits import (
    Split,
    leave_last_k_out,
    make_split,
    random_holdout,
    temporal_split,
    validation_split,
)

__all__ = [
    "ComparisonResult",
    "EvaluationResult",
    "Split",
    "compare_models",
    "evaluate_recommendations",
    "leave_last_k_out",
    "make_split",
    "random_holdout",
    "temporal_split",
    "validation_split",
]
