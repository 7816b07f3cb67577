"""Checksums verified once per machine: a second verification of unchanged files reads none of
them, and any write to a file since, even one that keeps its size and modification time, makes
it be hashed (and refused) again."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.exceptions import BundleIntegrityError
from recsys.verified_files import VERIFIED_DIR, file_sha256, verify_files

#: Files opened while `opened_under` watches (audit hooks cannot be removed: one, switched).
_watching: list[Path] = []
_opened: list[Path] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _watching and isinstance(args[0], str | Path):
        path = Path(args[0])
        if _watching[0] in path.parents:
            _opened.append(path)


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[Path]]:
    """The files under the watched folder opened while the test runs (`watch` sets it)."""
    _opened.clear()
    yield _opened
    _watching.clear()


def watch(folder: Path) -> None:
    _watching[:] = [folder]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "a.npy").write_bytes(b"a" * 5000)
    (run / "catalog.csv.gz").write_bytes(b"c" * 300)
    return run


def expected(run: Path) -> dict[str, str]:
    return {
        rel: hashlib.sha256((run / rel).read_bytes()).hexdigest()
        for rel in ("model/a.npy", "catalog.csv.gz")
    }


def bundle_files_opened(opened: list[Path], run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in opened if VERIFIED_DIR not in p.parts}


def test_unchanged_files_are_not_hashed_again(run: Path, opened: list[Path]) -> None:
    wanted = expected(run)
    watch(run)
    verify_files(run, wanted)
    assert bundle_files_opened(opened, run) == set(wanted)
    assert len(list((run / VERIFIED_DIR).glob("*.json"))) == 1
    opened.clear()
    verify_files(run, wanted)
    assert bundle_files_opened(opened, run) == set()
    verify_files(run, wanted, rehash=True)  # an operator's full check reads every file
    assert bundle_files_opened(opened, run) == set(wanted)


def test_a_write_since_is_hashed_again_even_with_the_old_times(run: Path) -> None:
    wanted = expected(run)
    verify_files(run, wanted)
    target = run / "model" / "a.npy"
    before = target.stat()
    target.write_bytes(b"b" * 5000)  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    with pytest.raises(BundleIntegrityError, match=re.escape(f"{target} does not match")):
        verify_files(run, wanted)


def test_another_expected_checksum_is_hashed_again(run: Path) -> None:
    wanted = expected(run)
    verify_files(run, wanted)
    with pytest.raises(BundleIntegrityError, match=re.escape("catalog.csv.gz does not match")):
        verify_files(run, {**wanted, "catalog.csv.gz": "0" * 64})


def test_a_missing_file_is_named_whatever_was_recorded(run: Path) -> None:
    wanted = expected(run)
    verify_files(run, wanted)
    (run / "catalog.csv.gz").unlink()
    with pytest.raises(BundleIntegrityError, match=re.escape("catalog.csv.gz is missing")):
        verify_files(run, wanted)


def test_a_garbled_record_is_ignored_and_replaced(run: Path, opened: list[Path]) -> None:
    wanted = expected(run)
    verify_files(run, wanted)
    (record,) = (run / VERIFIED_DIR).glob("*.json")
    record.write_text("{not json")
    watch(run)
    verify_files(run, wanted)
    assert bundle_files_opened(opened, run) == set(wanted)
    opened.clear()
    verify_files(run, wanted)
    assert bundle_files_opened(opened, run) == set()


def test_file_sha256_is_the_content_digest(run: Path) -> None:
    assert file_sha256(run / "catalog.csv.gz") == hashlib.sha256(b"c" * 300).hexdigest()
