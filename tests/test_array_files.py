"""Arrays as `.npy` files: large ones load memory-mapped, nothing is pickled, files are replaced."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from recsys.array_files import MAP_BYTES, load_arrays, save_arrays


def test_large_arrays_load_memory_mapped_and_small_ones_read(tmp_path: Path) -> None:
    large = np.arange(MAP_BYTES // 8 + 1, dtype=np.int64)
    small = np.asarray([1.5, 2.5])
    save_arrays(tmp_path, {"large": large, "small.values": small})
    loaded = load_arrays(tmp_path)
    assert type(loaded["large"]) is np.ndarray  # a plain view: no per-access bookkeeping
    mapping = loaded["large"].base
    assert isinstance(mapping, np.memmap)
    assert Path(str(mapping.filename)) == tmp_path / "large.npy"
    assert not isinstance(loaded["small.values"].base, np.memmap)  # read into memory
    np.testing.assert_array_equal(loaded["large"], large)
    np.testing.assert_array_equal(loaded["small.values"], small)


def test_writing_into_a_mapped_array_leaves_the_file_alone(tmp_path: Path) -> None:
    save_arrays(tmp_path, {"factors": np.zeros(MAP_BYTES, dtype=np.float32)})
    mapped = load_arrays(tmp_path)["factors"]
    mapped[:10] = 7.0  # implicit's solver asks for writable buffers
    assert load_arrays(tmp_path)["factors"][:10].sum() == 0


def test_object_arrays_are_refused_both_ways(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allow_pickle=False"):
        save_arrays(tmp_path, {"ids": np.asarray(["a", None], dtype=object)})
    np.save(tmp_path / "sneaked.npy", np.asarray([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_arrays(tmp_path)


def test_names_must_be_plain_file_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("got ['../up', '.hidden']")):
        save_arrays(tmp_path, {"../up": np.zeros(1), ".hidden": np.zeros(1), "ok": np.zeros(1)})


def test_saving_again_replaces_files_and_drops_arrays_no_longer_named(tmp_path: Path) -> None:
    save_arrays(tmp_path, {"kept": np.zeros(MAP_BYTES), "gone": np.zeros(3)})
    mapped = load_arrays(tmp_path)["kept"]
    save_arrays(tmp_path, {"kept": np.ones(MAP_BYTES)})
    assert mapped.sum() == 0  # a process still mapping the old file reads the old values
    loaded = load_arrays(tmp_path)
    assert set(loaded) == {"kept"} and loaded["kept"].sum() == MAP_BYTES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.npy"]
