"""Model bundles: save, verify, load, publish (atomic `CURRENT`), roll back and prune.

Layout under the models directory::

    runs/<run_id>/model/...            the recommender's own files (`Recommender.save`): its
                                       parameters (JSON) and arrays (`model/arrays/*.npy`)
    runs/<run_id>/lists/*.npy          every reader's and book's list, precomputed, and the
                                       catalog's records as lists show them (optional;
                                       `recsys.lists.records`)
    runs/<run_id>/rendered/<key>/      readers' lists as the service renders them, written by
                                       the service's first worker (`recsys.lists.rendered`);
                                       outside the manifest, deleted when readers are purged
    runs/<run_id>/catalog.csv.gz       catalog snapshot the model was trained with
    runs/<run_id>/holdings.csv.gz      holdings snapshot (which branch holds what)
    runs/<run_id>/manifest.json        written last: params, counts, versions, SHA-256 of each file
    CURRENT, PREVIOUS                  one run id each; replaced atomically
    PUBLISHED                          the runs published before, most recent last (fallbacks)

A run directory without a manifest is incomplete (a crashed or running job) and is never published
or loaded. Nothing here unpickles: arrays are `.npy` files written and read without pickle
(`recsys.array_files`), parameters JSON. A loaded bundle's large arrays are memory-mapped, so
the service's workers share one copy: its files are replaced, never rewritten in place.

Erasure reaches the runs (`recsys.erasure`): the manifest's ``privacy`` record says up to which
erasure (the id of its `privacy_events` row) the run's data reflect, ``erasures_applied``, and
when readers were last purged from it, ``purged_at`` (never who). Loading and publishing take the
id of the store's latest erasure and refuse a run that does not reflect it (`check_erasures`):
one trained on data read before an erasure and not purged since may hold the erased reader.
`purge_bundle` removes readers from a saved run and re-writes its files and checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shutil
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.array_files import load_arrays, save_arrays
from recsys.columns import Columns as C
from recsys.data.dataset import CATALOG_COLUMNS, HOLDINGS_COLUMNS, SERVED_CATALOG_COLUMNS
from recsys.exceptions import BundleIntegrityError, ErasurePendingError, ModelNotFoundError
from recsys.models.base import ARRAYS_DIR, Recommender
from recsys.verified_files import file_sha256, verify_files

MANIFEST = "manifest.json"
MODEL_DIR = "model"
LISTS_DIR = "lists"
RENDERED_DIR = "rendered"
POPULAR_DIR = "popular"
CATALOG_FILE = "catalog.csv.gz"
HOLDINGS_FILE = "holdings.csv.gz"
RUNS_DIR = "runs"
CURRENT = "CURRENT"
PREVIOUS = "PREVIOUS"
PUBLISHED = "PUBLISHED"
PRIVACY = "privacy"
FORMAT_VERSION = 1
RESERVED_KEYS = frozenset(
    {
        "format_version",
        "run_id",
        "created_at",
        "model",
        "snapshot_rows",
        "versions",
        "files",
        PRIVACY,
    }
)
VERSIONED_PACKAGES = ("recsys", "numpy", "scipy", "pandas", "scikit-learn", "implicit")
RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")


@dataclass(frozen=True)
class Bundle:
    """A verified, loaded run: what the service serves and the batch commands use."""

    run_id: str
    path: Path
    manifest: dict[str, Any]
    model: Recommender
    catalog: pd.DataFrame
    holdings: pd.DataFrame
    #: the precomputed lists by name, memory-mapped (empty when the run has none)
    lists: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: SHA-256 of the manifest read: a purge re-writes the manifest of the same run id
    manifest_sha256: str = ""

    def without_snapshots(self) -> Bundle:
        """This bundle with empty catalog and holdings frames (their columns kept), for a copy
        that keeps what it needs of them indexed elsewhere (the service's
        `recsys.lists.catalog.CatalogIndex`): the frames' Python strings would otherwise stay in
        every worker for as long as it serves the run, more than any other part of it."""
        return replace(self, catalog=_empty_like(self.catalog), holdings=_empty_like(self.holdings))


def new_run_id() -> str:
    """A sortable UTC run id such as ``20261121T234501Z-3f9a`` (random suffix avoids clashes)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_path(models_dir: Path, run_id: str) -> Path:
    """The directory of `run_id`, refusing ids that are not plain run ids (no path tricks)."""
    if not RUN_ID_PATTERN.match(run_id):
        raise ModelNotFoundError(f"run_id must look like 20261121T234501Z-3f9a; got {run_id!r}")
    return Path(models_dir) / RUNS_DIR / run_id


def save_bundle(
    models_dir: Path,
    run_id: str,
    model: Recommender,
    *,
    catalog: pd.DataFrame,
    holdings: pd.DataFrame,
    erasures_applied: int,
    manifest_extra: dict[str, Any] | None = None,
    lists: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write a complete bundle for `run_id` and return its directory.

    `erasures_applied` is the id of the store's latest erasure when the training data were read
    (`recsys.erasure.latest_erasure`, read before the data): the run reflects every erasure up
    to it. `lists` are the model's precomputed lists (`recsys.lists.served.served_lists`).
    Files already in the run directory (a job's log, say) are kept and checksummed too. The
    manifest is written last, atomically, so a crash leaves a bundle that verification refuses.
    """
    extra = dict(manifest_extra or {})
    clash = sorted(RESERVED_KEYS.intersection(extra))
    if clash:
        raise ValueError(f"manifest_extra must not set reserved keys {clash}")
    path = run_path(models_dir, run_id)
    if (path / MANIFEST).exists():
        raise FileExistsError(f"run {run_id} already has a manifest; bundles are immutable")
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / MODEL_DIR)
    if lists:
        save_arrays(path / LISTS_DIR, lists)
    catalog_rows = _write_snapshot(catalog, SERVED_CATALOG_COLUMNS, path / CATALOG_FILE)
    holdings_rows = _write_snapshot(holdings, HOLDINGS_COLUMNS, path / HOLDINGS_FILE)
    files = {rel: _file_entry(path / rel) for rel in _bundle_files(path)}
    manifest = {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"name": model.name, "params": model.get_params()},
        "snapshot_rows": {"catalog": catalog_rows, "holdings": holdings_rows},
        "versions": _library_versions(),
        "files": files,
        PRIVACY: {"erasures_applied": int(erasures_applied), "purged_at": None},
        **extra,
    }
    _write_manifest(path, manifest)
    return path


def verify_bundle(path: Path, *, rehash: bool = False) -> dict[str, Any]:
    """Check a bundle against its manifest and return the manifest.

    Raises `BundleIntegrityError` naming the file when the manifest is missing or unreadable, a
    listed file is missing or differs from its checksum, or an unlisted file sits in the model
    or lists folder or in place of a snapshot (files that would be loaded must all be accounted
    for). Files this machine verified and that are unchanged since are not hashed again unless
    `rehash` (`recsys.verified_files`).
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BundleIntegrityError(f"bundle {path} does not exist")
    if not manifest_path.is_file():
        raise BundleIntegrityError(f"bundle {path} is incomplete: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        manifest["model"]["name"]
    except (ValueError, KeyError, TypeError) as error:
        raise BundleIntegrityError(f"{manifest_path} is not a valid manifest: {error}") from error
    if manifest.get("run_id") != path.name:
        raise BundleIntegrityError(
            f"{manifest_path} names run {manifest.get('run_id')!r}, not its folder {path.name!r}"
        )
    for rel in (CATALOG_FILE, HOLDINGS_FILE):
        if rel not in files:
            raise BundleIntegrityError(f"{manifest_path} does not list {rel}")
    try:
        expected = {rel: entry["sha256"] for rel, entry in files.items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise BundleIntegrityError(f"{manifest_path} is not a valid manifest: {error}") from error
    verify_files(path, expected, rehash=rehash)
    critical = {
        rel for rel in _bundle_files(path) if rel.startswith((f"{MODEL_DIR}/", f"{LISTS_DIR}/"))
    }
    unlisted = sorted(critical - set(files))
    if unlisted:
        raise BundleIntegrityError(f"bundle file {path / unlisted[0]} is not in the manifest")
    return manifest


def load_bundle(
    path: Path, *, latest_erasure: int, compact: bool = False, snapshots: bool = True
) -> Bundle:
    """Verify, then load the model and snapshots of the bundle at `path`.

    `latest_erasure` is the id of the store's latest erasure (`recsys.erasure.latest_erasure`):
    a run that does not reflect it is refused with `ErasurePendingError`. `compact` leaves the
    snapshots' text in pyarrow's buffers (missing text as NaN) instead of a Python string per
    cell with None for missing text: for a reader that indexes them once and lets them go (the
    service's `recsys.lists.served.build_served`), whose worker would otherwise keep the heap
    those strings fragmented. Without `snapshots` the catalog and holdings snapshots are not read
    (no rows), for a reader that takes them from the lists' records (`recsys.lists.records`).
    """
    bundle = _read_bundle(Path(path), compact=compact, snapshots=snapshots)
    check_erasures(bundle.manifest, latest_erasure=latest_erasure)
    return bundle


def _read_bundle(path: Path, *, compact: bool = False, snapshots: bool = True) -> Bundle:
    """Verify and load a bundle, whatever erasures it reflects (for `purge_bundle`)."""
    from recsys.models.registry import load_model

    stamp = manifest_sha256(path)
    manifest = verify_bundle(path)
    try:
        model = load_model(path / MODEL_DIR)
        catalog, holdings = (
            _read_snapshot(path / source, columns, compact=compact)
            if snapshots
            else pd.DataFrame(columns=list(columns))
            for source, columns in (
                (CATALOG_FILE, CATALOG_COLUMNS),
                (HOLDINGS_FILE, HOLDINGS_COLUMNS),
            )
        )
        lists = load_arrays(path / LISTS_DIR)
    except (OSError, ValueError, KeyError) as error:
        raise BundleIntegrityError(f"bundle {path} could not be loaded: {error}") from error
    return Bundle(path.name, path, manifest, model, catalog, holdings, lists, stamp or "")


def model_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the model in the bundle at `path`, by file and name (after
    `verify_bundle`): its `.npy` files, or the `.npz` archive of bundles saved before."""
    arrays = {
        f"{MODEL_DIR}/{ARRAYS_DIR}/{name}": value
        for name, value in load_arrays(path / MODEL_DIR / ARRAYS_DIR).items()
    }
    for archive in sorted((path / MODEL_DIR).glob("*.npz")):
        with np.load(archive, allow_pickle=False) as data:
            arrays.update({f"{archive.name}:{key}": data[key] for key in data.files})
    return arrays


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The run's manifest without verifying its files (None: the run is unfinished)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise BundleIntegrityError(f"{Path(path) / MANIFEST} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise BundleIntegrityError(f"{Path(path) / MANIFEST} is not a manifest")
    return manifest


def discard_model(path: Path) -> bool:
    """Delete the model files, precomputed and rendered lists and counted popular lists of a
    run that must never be served; its reports stay. Returns whether there was a model."""
    shutil.rmtree(Path(path) / LISTS_DIR, ignore_errors=True)
    shutil.rmtree(Path(path) / RENDERED_DIR, ignore_errors=True)
    shutil.rmtree(Path(path) / POPULAR_DIR, ignore_errors=True)
    model_dir = Path(path) / MODEL_DIR
    if not model_dir.exists():
        return False
    shutil.rmtree(model_dir)
    return True


def manifest_sha256(path: Path) -> str | None:
    """SHA-256 of the run's manifest as it is now (None: no manifest): it changes when the run is
    purged, while the run id stays."""
    try:
        return hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def erasures_applied(manifest: dict[str, Any]) -> int:
    """The id of the latest erasure the run reflects (0 for a run saved without the record)."""
    record = manifest.get(PRIVACY)
    applied = record.get("erasures_applied") if isinstance(record, dict) else None
    return applied if isinstance(applied, int) and not isinstance(applied, bool) else 0


def newest_erasure_recorded(models_dir: Path) -> int:
    """The newest erasure any saved run reflects (0: none): a lower bound of the store's latest
    erasure that needs no database, since every erasure is recorded in the runs it purges."""
    newest = 0
    for run_id in list_runs(models_dir):
        try:
            manifest = read_manifest(run_path(models_dir, run_id))
        except (BundleIntegrityError, OSError):
            continue
        newest = max(newest, erasures_applied(manifest or {}))
    return newest


def check_erasures(manifest: dict[str, Any], *, latest_erasure: int) -> None:
    """Refuse a run that does not reflect the store's latest erasure (see the module docstring)."""
    if erasures_applied(manifest) < latest_erasure:
        raise ErasurePendingError(
            f"run {manifest.get('run_id')} was trained on data read before the latest erasure "
            "and has not been purged since, so it may still hold the erased reader; it is not "
            "served. Publish a newer run or run `recsys nightly` (a run that missed an erasure "
            "while it trained is never purged afterwards: retrain)"
        )


#: Computes a purged model's precomputed lists (`recsys.lists.served.served_lists`).
ListsOf = Callable[[Recommender, pd.DataFrame, pd.DataFrame], Mapping[str, np.ndarray]]


def purge_bundle(
    path: Path,
    readers: Sequence[str],
    *,
    erasure_id: int,
    previous_erasure_id: int,
    lists_of: ListsOf | None = None,
) -> bool:
    """Remove `readers` (pseudonyms) from the saved run at `path` for erasure `erasure_id`;
    returns whether the run held any of them.

    The run's model files are re-written without them, and its precomputed lists, if it carries
    any, are computed again from the purged model with `lists_of` (without it they are removed:
    the service then computes them itself); its rendered lists and counted popular lists are
    deleted (the service makes them again for the purged run). Each file is replaced
    atomically and the manifest, with the new checksums, is written last, so a reader of the
    bundle that sees the new manifest sees the new files. The run then reflects `erasure_id`
    if it reflected every erasure before (`previous_erasure_id`); a run that missed an earlier
    erasure keeps its old record, and so stays refused, since its other erased readers are not
    known here.
    """
    path = Path(path)
    bundle = _read_bundle(path)
    manifest = dict(bundle.manifest)
    held = bundle.model.forget_readers(readers)
    shutil.rmtree(path / POPULAR_DIR, ignore_errors=True)  # counted with the erased loans
    applied = erasures_applied(manifest)
    record = dict(manifest.get(PRIVACY) or {})
    if applied >= previous_erasure_id:
        record["erasures_applied"] = max(applied, erasure_id)
    if held:
        record["purged_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        shutil.rmtree(path / RENDERED_DIR, ignore_errors=True)
        _replace_model_files(path, bundle.model, manifest)
        if bundle.lists:
            lists = lists_of(bundle.model, bundle.catalog, bundle.holdings) if lists_of else {}
            _replace_folder(path, LISTS_DIR, save_arrays(path / LISTS_DIR, lists), manifest)
    if record != manifest.get(PRIVACY) or held:
        manifest[PRIVACY] = record
        _write_manifest(path, manifest)
    return held > 0


def _replace_model_files(path: Path, model: Recommender, manifest: dict[str, Any]) -> None:
    """Save `model` over the run's model files, each by an atomic rename, delete those it no
    longer writes (an older format's archive), and enter the new checksums into `manifest`
    (which the caller writes afterwards)."""
    staging = path / f".tmp-purge-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        placed = []
        for source in model.save(staging):
            target = path / MODEL_DIR / source.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(source, target)
            placed.append(target)
        _replace_folder(path, MODEL_DIR, placed, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_folder(
    path: Path, folder: str, written: Sequence[Path], manifest: dict[str, Any]
) -> None:
    """Make `manifest` list exactly the `written` files under the run's `folder`, deleting
    any other file it listed there."""
    kept = {target.relative_to(path).as_posix() for target in written}
    files = {}
    for rel, entry in manifest["files"].items():
        if rel.startswith(f"{folder}/") and rel not in kept:
            (path / rel).unlink(missing_ok=True)
        else:
            files[rel] = entry
    files.update({rel: _file_entry(path / rel) for rel in kept})
    manifest["files"] = files
    for directory in {target.parent for target in written} | {path / folder}:
        if directory.is_dir():
            _fsync_dir(directory)


def current_run_id(models_dir: Path) -> str | None:
    """The published run id, or None when nothing has been published."""
    return _read_pointer(Path(models_dir) / CURRENT)


def previous_run_id(models_dir: Path) -> str | None:
    """The run id that `rollback` would restore, or None."""
    return _read_pointer(Path(models_dir) / PREVIOUS)


def publish(models_dir: Path, run_id: str, *, latest_erasure: int) -> None:
    """Make `run_id` the served model; the old `CURRENT` becomes `PREVIOUS`.

    Refuses a bundle that fails verification, whose model's lists are not k-anonymous, or that
    does not reflect `latest_erasure` (see `load_bundle`). Each pointer file is replaced
    atomically, so a reader of `CURRENT` sees either the old or the new id, never a partial one.
    """
    models_dir = Path(models_dir)
    path = run_path(models_dir, run_id)
    if not path.is_dir():
        raise ModelNotFoundError(f"run {run_id} does not exist in {models_dir / RUNS_DIR}")
    from recsys.models.registry import check_private

    manifest = verify_bundle(path)
    check_private(manifest["model"]["name"])
    check_erasures(manifest, latest_erasure=latest_erasure)
    current = current_run_id(models_dir)
    if current == run_id:
        return
    if current is not None:
        _atomic_write(models_dir / PREVIOUS, current + "\n")
    _atomic_write(models_dir / CURRENT, run_id + "\n")
    _record_published(models_dir, run_id)


def fallback_run_ids(models_dir: Path) -> list[str]:
    """The runs to serve, in this order, when `CURRENT` cannot be: `PREVIOUS`, then the other
    runs published before that are still retained, most recently published first.

    Runs never published (refused by the gate, still being written) are never fallbacks.
    """
    models_dir = Path(models_dir)
    current = current_run_id(models_dir)
    order = [previous_run_id(models_dir), *reversed(_published_run_ids(models_dir))]
    return [
        run_id
        for run_id in dict.fromkeys(order)
        if run_id is not None and run_id != current and _run_exists(models_dir, run_id)
    ]


def rollback(models_dir: Path, *, latest_erasure: int) -> str:
    """Serve `PREVIOUS` again (the rolled-back run becomes `PREVIOUS`); returns the restored id.

    Refused like `publish` when `PREVIOUS` does not reflect `latest_erasure`.
    """
    models_dir = Path(models_dir)
    previous = previous_run_id(models_dir)
    if previous is None:
        raise ModelNotFoundError(f"nothing to roll back to: {models_dir / PREVIOUS} does not exist")
    publish(models_dir, previous, latest_erasure=latest_erasure)
    return previous


def prune_runs(models_dir: Path, *, keep: int) -> list[str]:
    """Delete all but the newest `keep` runs, never `CURRENT` or `PREVIOUS`; returns removed ids.

    Only runs older than the newest `keep` are touched, so a run still being written survives.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep must be a positive integer; got {keep!r}")
    models_dir = Path(models_dir)
    protected = {current_run_id(models_dir), previous_run_id(models_dir)}
    runs = sorted(list_runs(models_dir), reverse=True)
    removed = [run_id for run_id in runs[keep:] if run_id not in protected]
    for run_id in removed:
        shutil.rmtree(run_path(models_dir, run_id))
    return removed


def list_runs(models_dir: Path) -> list[str]:
    """Run ids present under `runs/` (complete or not), oldest first."""
    runs_dir = Path(models_dir) / RUNS_DIR
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name))


def load_current(models_dir: Path, *, latest_erasure: int) -> Bundle:
    """Load the published bundle (see `load_bundle`), or raise `ModelNotFoundError` saying how to
    publish one."""
    models_dir = Path(models_dir)
    run_id = current_run_id(models_dir)
    if run_id is None:
        raise ModelNotFoundError(
            f"no published model in {models_dir}: run `recsys nightly` (or train, then "
            "`recsys publish RUN_ID`) first"
        )
    return load_bundle(run_path(models_dir, run_id), latest_erasure=latest_erasure)


def _published_run_ids(models_dir: Path) -> list[str]:
    """Run ids in `PUBLISHED`, least recently published first."""
    try:
        text = (models_dir / PUBLISHED).read_text()
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if RUN_ID_PATTERN.match(line.strip())]


def _record_published(models_dir: Path, run_id: str) -> None:
    """Move `run_id` to the end of `PUBLISHED`, dropping runs that were pruned since."""
    kept = [r for r in _published_run_ids(models_dir) if r != run_id and _run_exists(models_dir, r)]
    _atomic_write(models_dir / PUBLISHED, "".join(f"{r}\n" for r in [*kept, run_id]))


def _run_exists(models_dir: Path, run_id: str) -> bool:
    return RUN_ID_PATTERN.match(run_id) is not None and run_path(models_dir, run_id).is_dir()


def _bundle_files(path: Path) -> list[str]:
    """Files the manifest covers, as POSIX paths: all but the manifest, temporaries and logs
    (a job may keep appending to its log after the bundle is sealed)."""
    return sorted(
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file()
        and p.name != MANIFEST
        and not p.name.startswith(".tmp-")
        and p.suffix != ".log"
    )


def _file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    _atomic_write(path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str))


def _write_snapshot(frame: pd.DataFrame, columns: tuple[str, ...], target: Path) -> int:
    """Write the contract columns (missing ones empty) as gzip CSV; returns the row count."""
    snapshot = frame.reindex(columns=list(columns))
    snapshot.to_csv(target, index=False, compression={"method": "gzip", "mtime": 0})
    return len(snapshot)


#: Snapshot columns read as nullable integers, parsed as numbers by the CSV reader (every
#: worker reads the snapshots of each bundle it loads).
_INTEGER_COLUMNS = {C.YEAR: "float64", C.COPIES: "float64", C.AVAILABLE: "float64"}


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """No rows, the same columns and types; shares no buffer with `frame` (an empty slice of a
    pyarrow-backed column would keep the whole column's buffers alive)."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in frame.dtypes.items()})


def _read_snapshot(source: Path, columns: tuple[str, ...], *, compact: bool) -> pd.DataFrame:
    """Read a snapshot back with string ids, nullable integers and None for missing text (or,
    `compact`, pandas' pyarrow-backed strings with NaN for missing text)."""
    frame = pd.read_csv(
        source,
        dtype=defaultdict(lambda: "str", _INTEGER_COLUMNS),
        keep_default_na=False,
        na_values=[""],
    )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"snapshot {source.name} lacks columns {missing}")
    if not compact:
        texts = [c for c in frame.columns if c not in _INTEGER_COLUMNS]
        frame[texts] = frame[texts].astype(object).where(frame[texts].notna(), None)
    for column in _INTEGER_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    return frame


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _read_pointer(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def _atomic_write(target: Path, text: str) -> None:
    """Write `text` to `target` via a synced temporary file and `os.replace`, then sync the dir."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
