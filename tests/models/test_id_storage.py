"""Ids in fitted models: memory and saved size grow with each id, not with the longest one."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.array_files import load_arrays
from recsys.models.base import ARRAYS_DIR, Recommender
from recsys.models.matrix import IdMap
from recsys.models.registry import build_model
from tests.models.conftest import FAST_PARAMS, checkerboard

# Any text, empty and non-ASCII ids included (surrogates cannot be UTF-8).
IDS = st.lists(st.text(st.characters(blacklist_categories=("Cs",))), unique=True, max_size=40)


@given(ids=IDS)
def test_ids_are_stored_as_utf8_text_and_read_back_exactly(ids: list[str]) -> None:
    state = IdMap(ids).state("books")
    assert sorted(state) == ["books.ends", "books.utf8"]
    assert all(array.dtype.kind in "iu" for array in state.values())  # numbers, never objects
    assert state["books.utf8"].nbytes == sum(len(i.encode("utf-8")) for i in ids)
    assert state["books.ends"].nbytes == 8 * len(ids)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        restored = IdMap.from_state("books", {key: saved[key] for key in saved.files})
    assert restored.ids.tolist() == ids
    assert restored.index([*reversed(ids), "\x00never"]).tolist() == [
        *reversed(range(len(ids))),
        -1,
    ]


@given(ids=IDS)
def test_the_unicode_arrays_of_older_bundles_still_load(ids: list[str]) -> None:
    ids = [i for i in ids if not i.endswith("\x00")]  # numpy's unicode arrays drop trailing NULs
    assert IdMap.from_state("books", {"books": np.asarray(ids, dtype=str)}).ids.tolist() == ids


@pytest.mark.parametrize("name", ["hybrid", "popularity"])
def test_one_long_book_id_adds_its_own_length_to_a_saved_model_not_once_per_book(
    name: str, tmp_path: Path
) -> None:
    dataset = checkerboard()
    long_id = "L" * 200_000
    catalog = pd.concat(
        [dataset.catalog, pd.DataFrame({"book_id": [long_id], "title": ["A long id"]})],
        ignore_index=True,
    )
    interactions = dataset.interactions
    extra = interactions.iloc[:3].assign(book_id=long_id)
    model: Recommender = build_model(name, **FAST_PARAMS[name])
    model.fit(type(dataset).from_interactions(pd.concat([interactions, extra]), catalog))
    books = model.books_.ids  # type: ignore[attr-defined]
    assert len(books) > 20 and long_id in set(books)
    assert books.nbytes == 8 * len(books)  # references to Python strings, not fixed-width cells

    files = model.save(tmp_path / "model")
    size = sum(path.stat().st_size for path in files)
    assert size < len(long_id) + 200_000  # on main: every book padded to 200,000 characters
    loaded = type(model).load(tmp_path / "model")
    assert loaded.books_.ids.tolist() == books.tolist()  # type: ignore[attr-defined]
    readers = list(interactions["reader_id"].unique()[:5])
    pd.testing.assert_frame_equal(loaded.recommend(readers, k=5), model.recommend(readers, k=5))


@pytest.mark.parametrize("name", ["hybrid", "popularity"])
def test_a_model_saved_with_unicode_id_arrays_loads_with_the_same_lists(
    name: str, tmp_path: Path
) -> None:
    model: Recommender = build_model(name, **FAST_PARAMS[name])
    model.fit(checkerboard())
    model.save(tmp_path / "model")
    arrays = dict(load_arrays(tmp_path / "model" / ARRAYS_DIR))
    for prefix in {key.removesuffix(".utf8") for key in arrays if key.endswith(".utf8")}:
        ids = IdMap.from_state(prefix, arrays).ids.tolist()
        del arrays[f"{prefix}.utf8"], arrays[f"{prefix}.ends"]
        arrays[prefix] = np.asarray(ids, dtype=str)  # how bundles stored ids before
    assert {"readers", "books"} <= set(arrays)
    shutil.rmtree(tmp_path / "model" / ARRAYS_DIR)  # and all arrays in one archive
    np.savez(tmp_path / "model" / f"{model.name}.npz", allow_pickle=False, **arrays)

    loaded = type(model).load(tmp_path / "model")
    readers = ["reader-a1", "reader-b2", "someone new"]
    pd.testing.assert_frame_equal(loaded.recommend(readers, k=4), model.recommend(readers, k=4))
    pd.testing.assert_frame_equal(
        loaded.similar_books(["a1", "b3"], k=3), model.similar_books(["a1", "b3"], k=3)
    )
