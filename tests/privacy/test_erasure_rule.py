"""The erasure rule for saved runs, over random schedules of nightly runs and erasures: a run that
may be served never holds an erased reader, and right after an erasure no saved run holds any.

A nightly here reads the store (the erasures it has seen and the readers not erased yet), and
saves its run later, possibly after erasures made meanwhile, as a real nightly does when an
erasure comes while it trains.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.erasure import erase_reader, latest_erasure
from recsys.exceptions import BundleIntegrityError, ErasurePendingError
from recsys.models.popularity import PopularityRecommender

READERS = [f"p{n}" for n in range(6)]
BOOKS = ["b1", "b2", "b3"]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.just("")),
        st.tuples(st.just("save"), st.just("")),
        st.tuples(st.just("erase"), st.sampled_from(READERS)),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Read:
    """What a nightly read: the erasures recorded then, and the readers not erased yet."""

    erasures_seen: int
    readers: list[str]


def _save(models: Path, read: Read) -> str:
    rows = [(r, b) for r in read.readers for b in BOOKS[: 1 + READERS.index(r) % 3]]
    dataset = Dataset.from_interactions(pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID]))
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        models,
        run_id,
        PopularityRecommender().fit(dataset),
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=read.erasures_seen,
    )
    return run_id


def _held(models: Path, run_id: str) -> set[str]:
    """The readers a saved run's model files still name (none once they are deleted)."""
    path = artifacts.run_path(models, run_id) / artifacts.MODEL_DIR
    if not path.exists():
        return set()
    return set(PopularityRecommender.load(path).readers_.ids.tolist())


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=steps, final=st.sampled_from(READERS))
def test_no_servable_run_holds_an_erased_reader(schedule: list[tuple[str, str]], final: str):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(
            _env_file=None, database_url=None, data_dir=root, pseudonym_key="k" * 32
        )
        engine = make_engine(settings)
        upgrade(engine)
        models = root / "models"
        erased: set[str] = set()
        reads: list[Read] = []
        saved: list[str] = []
        try:
            for action, reader in [*schedule, ("erase", final)]:
                if action == "read":
                    kept = [r for r in READERS if r not in erased]
                    reads.append(Read(latest_erasure(engine), kept))
                elif action == "save" and reads:
                    saved.append(_save(models, reads.pop(0)))
                elif action == "erase":
                    erase_reader(engine, models, pseudonyms=[reader])
                    erased.add(reader)
                    # right after an erasure, no saved run holds any erased reader
                    for run_id in saved:
                        assert not _held(models, run_id) & erased, (run_id, schedule)
            latest = latest_erasure(engine)
            for run_id in saved:
                path = artifacts.run_path(models, run_id)
                try:
                    bundle = artifacts.load_bundle(path, latest_erasure=latest)
                except (ErasurePendingError, BundleIntegrityError):
                    # refused: it missed an erasure (its model files may be deleted already)
                    manifest = artifacts.read_manifest(path) or {}
                    assert artifacts.erasures_applied(manifest) < latest, (run_id, schedule)
                    continue
                held = set(bundle.model.readers_.ids.tolist())  # type: ignore[attr-defined]
                assert not held & erased, (run_id, schedule)
                assert held, "a servable run keeps the readers nobody erased"
        finally:
            engine.dispose()
