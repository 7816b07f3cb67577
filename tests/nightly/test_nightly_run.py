"""The whole nightly, as `recsys nightly` subprocesses, on a tiny generated library."""

from __future__ import annotations

import json
import math

from sqlalchemy import select

from recsys import artifacts
from recsys.db.engine import make_engine
from recsys.db.runs import list_runs
from recsys.db.tables import ingested_files
from recsys.lists.served import build_served
from recsys.models.search import DEFAULT_GRIDS


def test_nightly_twice_second_run_ingests_nothing_new(env, drop_exports) -> None:
    drop_exports(env.inbox, newest_day=False)
    drop_exports(env.inbox, newest_day=True)

    first = env.run("nightly", "--progress", "lines")
    assert first.returncode == 0, first.stdout + first.stderr
    published = artifacts.current_run_id(env.models)
    assert published is not None
    artifacts.verify_bundle(artifacts.run_path(env.models, published))
    assert f"nightly run {published}: PUBLISHED" in first.stdout
    assert "ingest: 6 new files, 0 already known, 0 rejected" in first.stdout
    run_dir = artifacts.run_path(env.models, published)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"candidate", "als_default", "popularity"} <= set(metrics["models"])
    assert "| candidate |" in (run_dir / "report.md").read_text()
    # the candidate scored is the recipe; the bundle refits the blend it chose, without tuning
    manifest = json.loads((run_dir / artifacts.MANIFEST).read_text())
    assert manifest["recipe"]["params"] == metrics["models"]["candidate"]["params"]
    assert manifest["recipe"]["params"]["tune_weights"] is True
    assert manifest["model"]["params"]["tune_weights"] is False
    # the refit's ALS went on from the candidate's factors, and the run says so
    assert manifest["recipe"]["refit_als_from_candidate"] is True
    assert "its ALS goes on from the candidate's factors" in first.stdout
    # every reader's and book's list is in the bundle: the service serves them at once
    served = build_served(artifacts.load_bundle(run_dir, latest_erasure=0), None, min_readers=2)
    assert served.readers.complete and len(served.readers) > 0
    assert served.similar.done == len(served.similar) > 0
    assert "lists: computing the lists of" in first.stdout
    assert not [p for p in env.inbox.glob("*/*") if p.parent.name != "processed"]
    assert len(list((env.inbox / "processed").rglob("*.csv.gz"))) == 6

    second = env.run("nightly", "--progress", "lines")
    assert second.returncode in (0, 3), second.stdout + second.stderr
    assert "ingest: no new exports" in second.stdout
    assert "ingest: 0 new files, 0 already known, 0 rejected" in second.stdout
    runs = sorted(artifacts.list_runs(env.models))
    newest = runs[-1]
    assert newest != published
    metrics = json.loads((artifacts.run_path(env.models, newest) / "metrics.json").read_text())
    candidate = metrics["models"]["candidate"]["metrics"]["ndcg@10"]
    reference = metrics["models"]["published_refit"]["metrics"]["ndcg@10"]
    passes = candidate >= reference * (1 - env.settings.gate_tolerance)
    assert (second.returncode == 0) == passes
    expected_current = newest if passes else published
    assert artifacts.current_run_id(env.models) == expected_current
    if passes:
        assert artifacts.previous_run_id(env.models) == published

    engine = make_engine(env.settings)
    history = list_runs(engine)
    assert list(history["status"]) == ["published", "published" if passes else "refused"]
    assert history["counts.ingest.files_ingested"].tolist() == [6, 0]
    assert {"timings.train", "timings.lists"} <= set(history.columns)
    with engine.connect() as connection:
        assert len(connection.execute(select(ingested_files)).all()) == 6


def test_steps_run_one_by_one(env, drop_exports) -> None:
    drop_exports(env.inbox, newest_day=False)
    ingest = env.run("ingest-inbox", "--progress", "none")
    assert ingest.returncode == 0, ingest.stderr
    assert "ingested 4 files" in ingest.stdout
    validate = env.run("validate", "--progress", "none")
    assert validate.returncode == 0, validate.stderr
    assert "data ok" in validate.stdout
    env.environ.update(RECSYS_SEARCH_ENABLED="true", RECSYS_SEARCH_BUDGET_SECONDS="0.1")
    train = env.run("train", "--progress", "none")
    assert train.returncode == 0, train.stderr
    (run_id,) = artifacts.list_runs(env.models)
    assert f"run {run_id} saved" in train.stdout
    manifest = artifacts.verify_bundle(artifacts.run_path(env.models, run_id))
    assert "lists/reader_positions.npy" in manifest["files"]
    grid_size = math.prod(len(values) for values in DEFAULT_GRIDS["hybrid"].values())
    # the 0.1 s budget stops the search after the first setting or two, long before the grid ends
    assert 1 <= manifest["search"]["tried"] < grid_size
    gate = env.run("gate")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert f"The new model (run {run_id}) passed" in gate.stdout
    assert artifacts.current_run_id(env.models) is None


def test_too_few_loans_fails_before_training(env, drop_exports) -> None:
    drop_exports(env.inbox, newest_day=False)
    env.environ["RECSYS_MIN_LOANS"] = "10000000"
    result = env.run("nightly", "--progress", "none")
    assert result.returncode == 1
    assert "at least min_loans=10000000 (RECSYS_MIN_LOANS)" in result.stderr
    assert artifacts.list_runs(env.models) == []
    assert artifacts.current_run_id(env.models) is None
