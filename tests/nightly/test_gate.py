"""Gate refusals, each with its explanation, on bundles built from a real published model."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.db.engine import make_engine
from recsys.models.base import Recommender
from recsys.models.registry import build_model
from recsys.nightly.gate import PAGE_METRIC, GateDecision, decide
from recsys.nightly.steps import recent_readers


def candidate(
    site,
    *,
    tamper: Callable[[Recommender], Recommender] | None = None,
    ndcg: float | None = None,
    page_ndcg: float | None = None,
    metrics: bool = True,
) -> str:
    """Save a copy of the published model as a new run, optionally tampered with."""
    current = artifacts.current_run_id(site.models)
    bundle = artifacts.load_bundle(artifacts.run_path(site.models, current), latest_erasure=0)
    model = bundle.model if tamper is None else tamper(bundle.model)
    run_id = artifacts.new_run_id()
    run_dir = artifacts.run_path(site.models, run_id)
    run_dir.mkdir(parents=True)
    if metrics:
        values = json.loads((bundle.path / "metrics.json").read_text())
        values["models"]["published_refit"] = values["models"]["candidate"]
        if ndcg is not None:
            values["models"]["candidate"] = {"metrics": {"ndcg@10": ndcg}}
        if page_ndcg is not None:
            figures = values["models"]["candidate"]["metrics"]
            values["models"]["candidate"] = {"metrics": {**figures, PAGE_METRIC: page_ndcg}}
        (run_dir / "metrics.json").write_text(json.dumps(values))
    artifacts.save_bundle(
        site.models,
        run_id,
        model,
        catalog=bundle.catalog,
        holdings=bundle.holdings,
        erasures_applied=0,
    )
    return run_id


def judge(site, run_id: str) -> GateDecision:
    engine = make_engine(site.settings)
    try:
        return decide(site.settings, run_id, readers=recent_readers(engine), latest_erasure=0)
    finally:
        engine.dispose()


def reference_ndcg(site) -> float:
    current = artifacts.current_run_id(site.models)
    path = artifacts.run_path(site.models, current) / "metrics.json"
    return float(json.loads(path.read_text())["models"]["candidate"]["metrics"]["ndcg@10"])


def float_arrays(model: Recommender) -> dict[str, np.ndarray]:
    return {
        k: v
        for k, v in model._state_arrays().items()
        if np.issubdtype(v.dtype, np.floating) and v.size
    }


def with_nan(model: Recommender) -> Recommender:
    arrays = model._state_arrays()
    name = next(iter(float_arrays(model)))
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = np.nan
    model._restore_arrays(arrays)
    return model


def emptied(_published: Recommender) -> Recommender:
    """An ALS fitted on no interactions at all: what training on an emptied store produces."""
    empty = pd.DataFrame(
        {C.READER_ID: [], C.BOOK_ID: [], C.EVENT: [], C.TIMESTAMP: pd.to_datetime([], utc=True)}
    )
    return build_model("als").fit(Dataset.from_interactions(empty))


def test_same_model_passes_with_explanation(published) -> None:
    run_id = candidate(published)
    decision = judge(published, run_id)
    assert decision.passed, decision.explanation
    assert decision.reason == "passed"
    assert f"The new model (run {run_id}) passed" in decision.explanation
    assert "a change of +0.0%" in decision.explanation


def test_first_model_passes_without_comparison(published) -> None:
    run_id = candidate(published)
    (published.models / "CURRENT").unlink()
    decision = judge(published, run_id)
    assert decision.passed and decision.reason == "first_model"
    assert "It is the first model" in decision.explanation


def test_corrupt_bundle_is_refused(published) -> None:
    run_id = candidate(published)
    array = next((artifacts.run_path(published.models, run_id) / "model").rglob("*.npy"))
    array.write_bytes(array.read_bytes()[:-10] + b"0123456789")
    decision = judge(published, run_id)
    assert not decision.passed and decision.reason == "checksum"
    assert "its files are damaged or incomplete" in decision.explanation
    assert "does not match its SHA-256" in decision.explanation
    published_id = artifacts.current_run_id(published.models)
    assert f"The published model (run {published_id}) stays in service." in decision.explanation


def test_nan_factors_are_refused(published) -> None:
    decision = judge(published, candidate(published, tamper=with_nan))
    assert not decision.passed and decision.reason == "non_finite"
    assert "contain NaN or infinite values" in decision.explanation


def test_empty_model_is_refused(published) -> None:
    decision = judge(published, candidate(published, tamper=emptied))
    assert not decision.passed and decision.reason == "empty"
    assert "it learned nothing" in decision.explanation


def test_missing_evaluation_is_refused(published) -> None:
    decision = judge(published, candidate(published, metrics=False))
    assert not decision.passed and decision.reason == "no_metrics"
    assert "metrics.json with ndcg@10 of the candidate" in decision.explanation


def test_worse_than_published_beyond_tolerance_is_refused(published) -> None:
    reference = reference_ndcg(published)
    decision = judge(published, candidate(published, ndcg=reference * 0.5))
    assert not decision.passed and decision.reason == "worse"
    assert "50.0% below the published model's" in decision.explanation
    assert "the allowed drop is 5% (RECSYS_GATE_TOLERANCE)" in decision.explanation
    assert decision.published == pytest.approx(reference)


def test_slightly_worse_within_tolerance_passes(published) -> None:
    reference = reference_ndcg(published)
    decision = judge(published, candidate(published, ndcg=reference * 0.97))
    assert decision.passed and decision.reason == "passed"
    assert "a change of -3.0%" in decision.explanation


def test_the_nightly_reports_the_catalog_pages_figure_beside_the_per_reader_one(
    published,
) -> None:
    path = artifacts.run_path(published.models, artifacts.current_run_id(published.models))
    figures = json.loads((path / "metrics.json").read_text())["models"]["candidate"]["metrics"]
    assert 0 < figures[PAGE_METRIC] <= 1 and 0 < figures["ndcg@10"] <= 1
    assert "page_ndcg@10" in (path / "report.md").read_text()
    decision = judge(published, candidate(published))
    assert decision.passed
    assert f"its catalog pages score {PAGE_METRIC} = {figures[PAGE_METRIC]:.4f}" in (
        decision.explanation
    )


def test_catalog_pages_worse_beyond_tolerance_are_refused(published) -> None:
    path = artifacts.run_path(published.models, artifacts.current_run_id(published.models))
    figures = json.loads((path / "metrics.json").read_text())["models"]["candidate"]["metrics"]
    run_id = candidate(published, page_ndcg=figures[PAGE_METRIC] * 0.5)
    current = artifacts.current_run_id(published.models)
    decision = judge(published, run_id)
    assert not decision.passed and decision.reason == "worse_pages"
    assert "its per-reader lists hold up" in decision.explanation
    assert f"its catalog pages' lists score {PAGE_METRIC}" in decision.explanation
    assert "50.0% below the published model's" in decision.explanation
    assert artifacts.current_run_id(published.models) == current


def without_links(model: Recommender) -> Recommender:
    """The model with every book-to-book link and its catalog vectors gone: each borrowed
    book's list collapses."""
    model.links_ = sparse.csr_matrix(model.links_.shape, dtype=np.int32)  # type: ignore[attr-defined]
    model.content_ = sparse.csr_matrix((model.links_.shape[0], 0), dtype=np.float32)  # type: ignore[attr-defined]
    return model


def test_a_model_whose_per_book_lists_collapse_is_refused(published) -> None:
    current = artifacts.current_run_id(published.models)
    decision = judge(published, candidate(published, tamper=without_links))
    assert not decision.passed and decision.reason == "empty"
    assert "it gave no per-book list" in decision.explanation
    assert artifacts.current_run_id(published.models) == current
