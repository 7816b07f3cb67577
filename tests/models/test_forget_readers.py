"""`forget_readers` (what an erasure does to a saved model): for every registered recommender and
any set of readers, nothing kept per reader survives for them, nothing changes for the others,
and the erased readers get what a reader the model never knew gets."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from scipy import sparse

from recsys.array_files import load_arrays
from recsys.columns import Columns as C
from recsys.models.base import ARRAYS_DIR, Recommender
from recsys.models.matrix import IdMap
from recsys.models.registry import MODELS, build_model, load_model
from tests.models.conftest import FAST_PARAMS, block_readers, checkerboard

READERS = block_readers("a") + block_readers("b")
NEVER_SEEN = "reader-never-seen"
CSR_PARTS = ("data", "indices", "indptr", "shape")
#: Saved arrays a model derives from its others at load (`saved_derivations`).
DERIVED = "derived."


class SavedModels:
    """Each registered model fitted on the checkerboard and saved once, when a test first asks
    for it (a Spark model only in a test that has the Spark session); examples load copies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.folders:
            folder = self.root / name
            build_model(name, **FAST_PARAMS[name]).fit(checkerboard()).save(folder)
            self.folders[name] = folder
        return self.folders[name]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> SavedModels:
    return SavedModels(tmp_path_factory.mktemp("saved"))


def _arrays(model: Recommender) -> dict[str, np.ndarray]:
    """The saved arrays, id maps (stored as UTF-8 text and ends) read back as one id array."""
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder))
        arrays = {k: np.array(v) for k, v in load_arrays(Path(folder) / ARRAYS_DIR).items()}
    for key in [k for k in arrays if k.endswith(".utf8")]:
        prefix = key.removesuffix(".utf8")
        arrays[prefix] = IdMap.from_state(prefix, arrays).ids
        del arrays[key], arrays[f"{prefix}.ends"]
    return arrays


def _per_reader(arrays: dict[str, np.ndarray], keys: set[str]) -> dict[str, np.ndarray]:
    """The saved arrays `keys` (sparse matrices made dense by their prefix)."""
    found = {}
    for key in keys:
        if f"{key}.indptr" in arrays:
            parts = [arrays[f"{key}.{part}"] for part in ("data", "indices", "indptr")]
            shape = tuple(arrays[f"{key}.shape"])
            found[key] = sparse.csr_matrix(tuple(parts), shape=shape).toarray()
        else:
            found[key] = arrays[key]
    return found


def _derived_from_scratch(model: Recommender) -> dict[str, np.ndarray]:
    """The derived arrays a load computes when the saved ones are gone (`saved_derivations`)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder))
        for path in (Path(folder) / ARRAYS_DIR).glob(f"{DERIVED}*"):
            path.unlink()
        loaded = load_model(Path(folder))
    return {key: value for key, value in _arrays(loaded).items() if key.startswith(DERIVED)}


def _prefix(key: str) -> str:
    """The saved array a key belongs to (a sparse matrix's parts share a prefix)."""
    head, _, tail = key.rpartition(".")
    return head if tail in CSR_PARTS else key


def _reader_keys(arrays: dict[str, np.ndarray], n_readers: int) -> set[str]:
    """The saved arrays with one row per training reader (a sparse matrix by its prefix)."""
    keys = set()
    for key, value in arrays.items():
        if key.endswith(".shape") and value[0] == n_readers:
            keys.add(_prefix(key))
        elif _prefix(key) == key and value.ndim and len(value) == n_readers:
            keys.add(key)
    return keys


#: Saved factors of items (books, or works) that only k readers reach (see the tests below).
K_ANONYMOUS_FACTORS = {"hybrid": "model.item_factors", "spark_als": "model.work_factors"}


def _readers_matrix(model: Recommender) -> sparse.csr_matrix:
    """Training readers x the items of `K_ANONYMOUS_FACTORS` (works: the models' columns)."""
    return sparse.csr_matrix(model.matrix_)  # type: ignore[attr-defined]


def _readers_per_item(model: Recommender) -> np.ndarray:
    return np.diff(sparse.csc_matrix(_readers_matrix(model)).indptr)


def _item_factors(model: Recommender) -> np.ndarray:
    if model.name == "spark_als":
        return model.work_factors_  # type: ignore[attr-defined, no-any-return]
    return model.als_.item_factors  # type: ignore[attr-defined, no-any-return]


def _list(model: Recommender, reader: str) -> list[str]:
    return model.recommend([reader], k=5)[C.BOOK_ID].tolist()


@pytest.mark.parametrize("name", sorted(MODELS))
@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    erased=st.sets(st.sampled_from(READERS), min_size=1, max_size=len(READERS)),
    unknown=st.booleans(),
)
def test_forgotten_readers_leave_nothing_and_change_nothing_else(
    name: str, saved: SavedModels, erased: set[str], unknown: bool
) -> None:
    model = load_model(saved[name])
    before = _arrays(model)
    ids = model.readers_.ids.tolist()  # type: ignore[attr-defined]
    kept = [reader for reader in ids if reader not in erased]

    held = model.forget_readers(sorted(erased) + ([NEVER_SEEN] if unknown else []))

    assert held == len(erased)
    assert model.readers_.ids.tolist() == kept  # type: ignore[attr-defined]
    after = _arrays(model)
    for key, value in after.items():
        if value.dtype.kind == "U":
            assert not erased & set(value.ravel().tolist()), (name, key)
    rows = np.flatnonzero([reader in kept for reader in ids])
    per_reader = {key for key in _reader_keys(before, len(ids)) if not key.startswith(DERIVED)}
    assert {"matrix", "readers"} <= per_reader
    old_rows, new_rows = _per_reader(before, per_reader), _per_reader(after, per_reader)
    for key, values in new_rows.items():
        np.testing.assert_array_equal(values, old_rows[key][rows], err_msg=f"{name} {key}")
    derived = {key for key in after if key.startswith(DERIVED)}
    scratch = _derived_from_scratch(model)
    for key in derived:  # what loading derives again from the forgotten model's own arrays
        np.testing.assert_array_equal(after[key], scratch[key], err_msg=f"{name} {key}")
    others = {key for key in before if _prefix(key) not in per_reader and key not in derived}
    assert others and after.keys() == before.keys()
    for key in others:
        expected = before[key].copy()
        if K_ANONYMOUS_FACTORS.get(name) == key:  # see the last test
            expected[_readers_per_item(model) < model.min_pair_support] = 0.0  # type: ignore[attr-defined]
        np.testing.assert_array_equal(after[key], expected, err_msg=f"{name} {key}")
    fallback = _list(model, NEVER_SEEN)
    for reader in sorted(erased)[:3]:
        assert _list(model, reader) == fallback, (name, reader)
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder))
        reloaded = load_model(Path(folder))
    for reader in kept[:2]:
        assert _list(reloaded, reader) == _list(model, reader)


def test_forgetting_readers_the_model_never_knew_changes_nothing(saved: SavedModels) -> None:
    model = load_model(saved["hybrid"])
    before = _arrays(model)
    assert model.forget_readers([NEVER_SEEN, "another-stranger"]) == 0
    after = _arrays(model)
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def test_a_model_forgets_a_reader_it_would_have_listed(saved: SavedModels) -> None:
    """Not vacuous: before, the reader got a personal list that differs from the fallback."""
    model = load_model(saved["als"])
    reader = block_readers("b")[0]
    personal = _list(model, reader)
    assert personal != _list(model, NEVER_SEEN)
    model.forget_readers([reader])
    assert _list(model, reader) == _list(model, NEVER_SEEN)
    assert not pd.Series(model.readers_.ids).eq(reader).any()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(K_ANONYMOUS_FACTORS))
def test_an_item_left_with_fewer_than_k_readers_loses_its_factors(
    name: str, saved: SavedModels
) -> None:
    """The ALS parts reach only items k readers borrowed; a purge keeps it so."""
    model = load_model(saved[name])
    k = model.min_pair_support  # type: ignore[attr-defined]
    readers_per_item = _readers_per_item(model)
    item = int(np.flatnonzero(readers_per_item == readers_per_item[readers_per_item >= k].min())[0])
    borrowed = np.flatnonzero(sparse.csc_matrix(_readers_matrix(model))[:, item].toarray())
    borrowers = model.readers_.ids[borrowed].tolist()  # type: ignore[attr-defined]
    assert _item_factors(model)[item].any()

    model.forget_readers(borrowers[: len(borrowers) - k + 1])

    assert not _item_factors(model)[item].any()
    others = np.flatnonzero(_readers_per_item(model) >= k)
    assert len(others) and (np.abs(_item_factors(model)[others]).sum(axis=1) > 0).all()
