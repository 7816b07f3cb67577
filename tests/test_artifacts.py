"""Bundles: save, verify (each failure names its file), load, publish, roll back, prune."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.exceptions import BundleIntegrityError, ModelNotFoundError, NotPrivateError
from recsys.lists.catalog import CatalogIndex, ListFilters
from recsys.models.base import Recommender
from recsys.models.registry import build_model


@dataclass(frozen=True)
class Trained:
    model: Recommender
    catalog: pd.DataFrame
    holdings: pd.DataFrame


@pytest.fixture(scope="module")
def trained() -> Trained:
    """A real hybrid model fitted on eight readers of six books (two editions of one work)."""
    books = [f"b{i}" for i in range(6)]
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: books,
            C.TITLE: [f"Title {i}" for i in range(6)],
            C.AUTHOR: ["A", "A", "B", "B", "C", "C"],
            C.SUBJECTS: ["Sea; Ships", "Sea", "Hills", "Hills", "Sea", None],
            C.ISBN: None,
            C.LANGUAGE: "eng",
            C.AUDIENCE: "adult",
            C.YEAR: pd.array([2001, 2002, None, 2004, 2005, 2006], dtype="Int64"),
            C.WORK_ID: ["w0", "w0", "w2", "w3", "w4", "w5"],
            C.FORMAT: "book",
        }
    )
    holdings = pd.DataFrame(
        {C.BOOK_ID: books, C.LIBRARY_ID: "CEN", C.COPIES: 1, C.AVAILABLE: [1, 0, 1, 0, 1, 1]}
    )
    loans = pd.DataFrame(
        [(f"r{r}", books[(r + j) % 6]) for r in range(8) for j in range(3)],
        columns=[C.READER_ID, C.BOOK_ID],
    )
    dataset = Dataset.from_interactions(loans, catalog, holdings)
    model = build_model("hybrid", factors=4, iterations=2, min_pair_support=2, random_state=1)
    return Trained(model.fit(dataset), catalog, holdings)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def save(models_dir: Path, trained: Trained, **extra: object) -> str:
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        models_dir,
        run_id,
        trained.model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=0,
        manifest_extra=dict(extra),
    )
    return run_id


def test_run_ids_are_sortable_utc_and_distinct() -> None:
    ids = {artifacts.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", i) for i in ids)


def test_save_writes_manifest_with_checksums_of_every_file(
    models_dir: Path, trained: Trained
) -> None:
    run_dir = artifacts.run_path(models_dir, artifacts.new_run_id())
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text("{}")  # written by the nightly before the bundle
    path = artifacts.save_bundle(
        models_dir,
        run_dir.name,
        trained.model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=0,
        manifest_extra={"data": {"interactions": 3}},
    )
    manifest = json.loads((path / artifacts.MANIFEST).read_text())
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {artifacts.MANIFEST}
    assert {"catalog.csv.gz", "holdings.csv.gz", "metrics.json"} <= set(manifest["files"])
    assert any(f.startswith("model/") for f in manifest["files"])
    assert manifest["model"] == {
        "name": trained.model.name,
        "params": json.loads(json.dumps(trained.model.get_params())),
    }
    assert manifest["snapshot_rows"] == {
        "catalog": len(trained.catalog),
        "holdings": len(trained.holdings),
    }
    assert manifest["data"] == {"interactions": 3}
    assert manifest["versions"]["numpy"] == np.__version__
    assert not list(path.glob("*.pkl")) and not list(path.rglob(".tmp-*"))


def test_manifest_extra_cannot_override_reserved_keys(models_dir: Path, trained: Trained) -> None:
    with pytest.raises(ValueError, match=r"reserved keys \['files'\]"):
        save(models_dir, trained, files={})


def test_load_round_trips_model_and_snapshots(models_dir: Path, trained: Trained) -> None:
    run_id = save(models_dir, trained)
    bundle = artifacts.load_bundle(artifacts.run_path(models_dir, run_id), latest_erasure=0)
    assert bundle.run_id == run_id
    assert isinstance(bundle.model, Recommender)
    readers = list(trained.model.readers_.ids[:3])
    pd.testing.assert_frame_equal(
        bundle.model.recommend(readers, k=4), trained.model.recommend(readers, k=4)
    )
    assert bundle.catalog[C.BOOK_ID].tolist() == trained.catalog[C.BOOK_ID].tolist()
    assert bundle.catalog[C.YEAR].dtype == "Int64"
    assert bundle.catalog.loc[bundle.catalog[C.BOOK_ID] == "b5", C.SUBJECTS].item() is None
    assert bundle.catalog[C.YEAR].isna().tolist() == [False, False, True, False, False, False]
    assert bundle.holdings[C.AVAILABLE].tolist() == trained.holdings[C.AVAILABLE].tolist()


def test_a_compact_load_indexes_the_same_catalog(models_dir: Path, trained: Trained) -> None:
    """The service's load keeps the snapshots' text in pyarrow's buffers: the catalog index it
    builds from them (missing subjects, a missing year, two editions of a work) is the same."""
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    full = artifacts.load_bundle(path, latest_erasure=0)
    compact = artifacts.load_bundle(path, latest_erasure=0, compact=True)
    assert compact.catalog[C.SUBJECTS].dtype != object
    index, expected = (CatalogIndex(b.catalog, b.holdings) for b in (compact, full))
    assert index.book_ids.tolist() == expected.book_ids.tolist()
    for column in ("titles", "authors", "subjects"):
        assert getattr(index, column).tolist() == getattr(expected, column).tolist()
    assert index.subjects[5] is None
    assert index.works.tolist() == expected.works.tolist() == [0, 0, 1, 2, 3, 4]
    available = ListFilters(library="CEN", available_only=True)
    for filters in (ListFilters(language="eng", audience="adult", format="book"), available):
        assert index.mask(filters).tolist() == expected.mask(filters).tolist()
    assert index.mask(available).sum() == 4


def test_a_served_copy_keeps_no_snapshot_rows(models_dir: Path, trained: Trained) -> None:
    bundle = artifacts.load_bundle(
        artifacts.run_path(models_dir, save(models_dir, trained)), latest_erasure=0, compact=True
    )
    served = bundle.without_snapshots()
    assert served.catalog.empty and served.holdings.empty
    assert served.catalog.dtypes.to_dict() == bundle.catalog.dtypes.to_dict()
    assert served.model is bundle.model and len(bundle.catalog) == 6


def test_verify_names_a_changed_file(models_dir: Path, trained: Trained) -> None:
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    target = next((path / "model").rglob("*.npy"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=re.escape(f"{target} does not match")):
        artifacts.verify_bundle(path)


def test_verify_names_a_missing_file(models_dir: Path, trained: Trained) -> None:
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    (path / "holdings.csv.gz").unlink()
    with pytest.raises(BundleIntegrityError, match=re.escape("holdings.csv.gz is missing")):
        artifacts.verify_bundle(path)


def test_verify_refuses_an_unlisted_model_file(models_dir: Path, trained: Trained) -> None:
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    (path / "model" / "extra.npz").write_bytes(b"x")
    with pytest.raises(BundleIntegrityError, match=re.escape("extra.npz is not in the manifest")):
        artifacts.verify_bundle(path)


def test_verify_refuses_a_bundle_without_manifest(models_dir: Path, trained: Trained) -> None:
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    (path / artifacts.MANIFEST).unlink()
    with pytest.raises(
        BundleIntegrityError, match=re.escape("incomplete: manifest.json is missing")
    ):
        artifacts.verify_bundle(path)


def test_verify_refuses_a_garbled_manifest(models_dir: Path, trained: Trained) -> None:
    path = artifacts.run_path(models_dir, save(models_dir, trained))
    (path / artifacts.MANIFEST).write_text("{not json")
    with pytest.raises(BundleIntegrityError, match="is not a valid manifest"):
        artifacts.verify_bundle(path)


def test_a_sealed_bundle_cannot_be_overwritten(models_dir: Path, trained: Trained) -> None:
    run_id = save(models_dir, trained)
    with pytest.raises(FileExistsError, match="bundles are immutable"):
        artifacts.save_bundle(
            models_dir,
            run_id,
            trained.model,
            catalog=trained.catalog,
            holdings=trained.holdings,
            erasures_applied=0,
            manifest_extra={},
        )


def test_publish_moves_current_to_previous_and_rollback_swaps(
    models_dir: Path, trained: Trained
) -> None:
    assert artifacts.current_run_id(models_dir) is None
    first, second = save(models_dir, trained), save(models_dir, trained)
    artifacts.publish(models_dir, first, latest_erasure=0)
    assert (artifacts.current_run_id(models_dir), artifacts.previous_run_id(models_dir)) == (
        first,
        None,
    )
    artifacts.publish(models_dir, second, latest_erasure=0)
    assert (artifacts.current_run_id(models_dir), artifacts.previous_run_id(models_dir)) == (
        second,
        first,
    )
    artifacts.publish(models_dir, second, latest_erasure=0)  # republishing keeps PREVIOUS useful
    assert artifacts.previous_run_id(models_dir) == first
    assert artifacts.rollback(models_dir, latest_erasure=0) == first
    assert (artifacts.current_run_id(models_dir), artifacts.previous_run_id(models_dir)) == (
        first,
        second,
    )
    assert artifacts.load_current(models_dir, latest_erasure=0).run_id == first
    assert not list(models_dir.glob(".tmp-*"))


def test_publish_refuses_a_corrupt_bundle_and_keeps_current(
    models_dir: Path, trained: Trained
) -> None:
    good, bad = save(models_dir, trained), save(models_dir, trained)
    artifacts.publish(models_dir, good, latest_erasure=0)
    (artifacts.run_path(models_dir, bad) / "catalog.csv.gz").write_bytes(b"garbage")
    with pytest.raises(BundleIntegrityError, match=re.escape("catalog.csv.gz does not match")):
        artifacts.publish(models_dir, bad, latest_erasure=0)
    assert artifacts.current_run_id(models_dir) == good


def test_publish_refuses_unknown_and_malformed_run_ids(models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="run 20200101T000000Z-abcd does not exist"):
        artifacts.publish(models_dir, "20200101T000000Z-abcd", latest_erasure=0)
    with pytest.raises(ModelNotFoundError, match=r"run_id must look like .*got '\.\./etc'"):
        artifacts.publish(models_dir, "../etc", latest_erasure=0)


def test_rollback_without_previous_says_so(models_dir: Path, trained: Trained) -> None:
    artifacts.publish(models_dir, save(models_dir, trained), latest_erasure=0)
    with pytest.raises(ModelNotFoundError, match="nothing to roll back to"):
        artifacts.rollback(models_dir, latest_erasure=0)


def test_load_current_without_a_published_model_says_how(models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no published model in .*recsys nightly"):
        artifacts.load_current(models_dir, latest_erasure=0)


def test_prune_keeps_newest_current_and_previous(models_dir: Path, trained: Trained) -> None:
    runs = sorted(save(models_dir, trained) for _ in range(5))
    artifacts.publish(models_dir, runs[0], latest_erasure=0)
    artifacts.publish(models_dir, runs[1], latest_erasure=0)
    removed = artifacts.prune_runs(models_dir, keep=2)
    assert sorted(removed) == sorted([runs[2]])
    assert artifacts.list_runs(models_dir) == sorted([runs[0], runs[1], runs[3], runs[4]])
    with pytest.raises(ValueError, match="keep must be a positive integer; got 0"):
        artifacts.prune_runs(models_dir, keep=0)


def test_publish_refuses_a_model_whose_lists_are_not_k_anonymous(
    models_dir: Path, trained: Trained
) -> None:
    dataset = Dataset.from_interactions(
        pd.DataFrame({C.READER_ID: ["r0", "r1", "r1"], C.BOOK_ID: ["b0", "b0", "b1"]}),
        trained.catalog,
    )
    baseline = build_model("als", factors=2, iterations=1).fit(dataset)
    run_id = save(models_dir, Trained(baseline, trained.catalog, trained.holdings))
    with pytest.raises(NotPrivateError, match="model 'als' is an evaluation baseline"):
        artifacts.publish(models_dir, run_id, latest_erasure=0)
    assert artifacts.current_run_id(models_dir) is None


def test_fallbacks_are_previous_then_runs_published_before_most_recent_first(
    models_dir: Path, trained: Trained
) -> None:
    a, b, c, never = (save(models_dir, trained) for _ in range(4))
    for run_id in (a, b, c):
        artifacts.publish(models_dir, run_id, latest_erasure=0)
    assert artifacts.fallback_run_ids(models_dir) == [b, a]  # `never` was never published
    assert artifacts.rollback(models_dir, latest_erasure=0) == b  # CURRENT b, PREVIOUS c
    assert artifacts.fallback_run_ids(models_dir) == [c, a]
    artifacts.publish(models_dir, a, latest_erasure=0)  # CURRENT a, PREVIOUS b
    assert artifacts.fallback_run_ids(models_dir) == [b, c]
    shutil.rmtree(artifacts.run_path(models_dir, c))  # as `prune_runs` removes old runs
    assert artifacts.fallback_run_ids(models_dir) == [b]
    assert never in artifacts.list_runs(models_dir)
