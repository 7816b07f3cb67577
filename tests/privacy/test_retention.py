"""Retention: the nightly deletes loans and views older than the window, and old model runs
beyond `keep_runs` with all their files (never the published or previous run)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.db.tables import loans, views
from recsys.models.popularity import PopularityRecommender
from recsys.nightly import steps
from recsys.nightly.validate import validate_store

DAY = 86_400
NOW = 1_790_000_000


def test_retention_deletes_old_loans_and_views_only(
    engine: Engine, settings: Settings, add_loans, add_views
) -> None:
    window = settings.model_copy(update={"retention_days": 30})
    old, recent = NOW - 31 * DAY, NOW - 29 * DAY
    add_loans([("r1", "b1", old), ("r1", "b2", recent), ("r2", "b1", old - 400 * DAY)])
    add_views([("s1", "b1", old, "r1"), ("s2", "b2", recent, None), ("s3", "b3", old, None)])

    report = validate_store(engine, window, now=NOW)

    assert report.deleted == {"loans": 2, "views": 2}
    with engine.connect() as connection:
        assert connection.execute(select(loans.c.borrowed_at)).scalars().all() == [recent]
        assert connection.execute(select(views.c.session_id)).scalars().all() == ["s2"]


def _bundle(models_dir: Path, run_id: str) -> Path:
    dataset = Dataset.from_interactions(
        pd.DataFrame({C.READER_ID: ["a", "b"], C.BOOK_ID: ["x", "y"]})
    )
    model = PopularityRecommender().fit(dataset)
    return artifacts.save_bundle(
        models_dir,
        run_id,
        model,
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=0,
    )


def test_publishing_deletes_runs_beyond_keep_runs_with_their_files(
    engine: Engine, settings: Settings
) -> None:
    models = settings.models_dir
    runs = [f"2026010{day}T000000Z-00a{day}" for day in range(1, 7)]
    paths = [_bundle(models, run_id) for run_id in runs]
    # the oldest is CURRENT, so it becomes PREVIOUS
    artifacts.publish(models, runs[0], latest_erasure=0)
    keep_two = settings.model_copy(update={"keep_runs": 2})

    result = steps.publish(keep_two, steps.RunContext(runs[-1], engine))

    assert sorted(result["pruned"]) == runs[1:4]
    for path in paths[1:4]:
        assert not path.exists()
    assert artifacts.list_runs(models) == [runs[0], runs[4], runs[5]]
    for path in (paths[0], paths[4], paths[5]):
        artifacts.verify_bundle(path)
    assert artifacts.previous_run_id(models) == runs[0]
