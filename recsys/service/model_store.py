"""The service's model store: loads the published bundle and swaps in newer ones.

`ModelStore.served` (a `recsys.lists.served.ServedModel`) is swapped as one reference, so a
request that took the old one finishes on it while new requests get the new one: no request
fails during a swap. A new bundle is served only after it loaded completely and answered a smoke
query; otherwise the old one keeps serving and the log says why. Until the new model has
computed every reader's list, the old one stands in for readers whose list is not ready
(`ModelStore.stand_in`), so none waits.

A run purged by an erasure keeps its run id but gets new files and a new manifest: the store
re-loads it at the next poll (when only the manifest's erasure record changed, the served copy
takes the new manifest). A run that does not reflect the store's latest erasure is never loaded,
kept serving or fallen back to, and no model from before an erasure stands in for one that
reflects it (`recsys.erasure`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys import artifacts
from recsys.erasure import latest_erasure
from recsys.exceptions import (
    BundleIntegrityError,
    ErasurePendingError,
    ModelNotFoundError,
    RecsysError,
)
from recsys.lists.records import CatalogRecords
from recsys.lists.served import ServedModel, build_served
from recsys.service.freed_memory import return_freed_memory

logger = logging.getLogger(__name__)


def _more_complete(newer: ServedModel | None, older: ServedModel | None) -> ServedModel | None:
    """The stand-in to keep after a swap: of the outgoing model and the one standing in for it,
    the one with more reader lists computed (models published in quick succession may never
    finish theirs), the newer one on a tie."""
    if newer is None or older is None:
        return newer or older
    share = [m.readers.done / max(len(m.readers), 1) for m in (newer, older)]
    return newer if share[0] >= share[1] else older


@dataclass(frozen=True)
class ReloadOutcome:
    outcome: Literal["swapped", "unchanged", "refused", "nothing published"]
    model_version: str | None
    detail: str | None = None


#: Sizes, modification times and inodes of a run's manifest and files: a cheap look for a change.
Stamps = tuple[tuple[int, int, int] | None, ...]


class ModelStore:
    """Holds the served model and swaps in newly published ones.

    What it serves is verified: a run is loaded only after its checksums match, and the served
    run's files are looked at on every poll (sizes and times; the checksums again when they
    changed, and on every admin reload). When the published run cannot be served (corrupt,
    missing, failing its smoke query) the run already serving stays, or else the newest valid
    fallback (`artifacts.fallback_run_ids`) is served, with one log line; `last_error` says so
    in words fit for public answers (no path).
    """

    def __init__(
        self,
        models_dir: Path,
        engine: Engine | None,
        *,
        min_readers: int,
        on_swap: Callable[[str], None] | None = None,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.engine = engine
        self.min_readers = min_readers
        self.served: ServedModel | None = None
        self._previous: ServedModel | None = None
        self.last_error: str | None = None
        self._refused: tuple[str, Stamps] | None = None
        self._stamps: Stamps = ()
        self._lock = threading.Lock()
        self._on_swap = on_swap

    @property
    def published_refused(self) -> bool:
        """Whether the published run cannot be served (an older run or nothing is served)."""
        return self._refused is not None

    def refresh(self, *, force: bool = False) -> ReloadOutcome:
        """Serve the published run if it is new; `force` verifies the served run's checksums
        and retries a run refused before (a refused run is also retried once its manifest
        changes)."""
        with self._lock:
            run_id = artifacts.current_run_id(self.models_dir)
            served = self.served
            if run_id is None:
                return ReloadOutcome(
                    "nothing published",
                    served.version if served else None,
                    "nothing is published yet: run `recsys nightly` or `recsys publish RUN_ID`",
                )
            key = self._refusal_key(run_id)  # before reading the run: it may change meanwhile
            if self._refused == key and not force:
                return ReloadOutcome("refused", served.version if served else None, self.last_error)
            if served is not None and served.version == run_id:
                try:
                    self._check_intact(served, full=force)
                except Exception as error:  # its files changed on disk and no longer verify
                    return self._refuse(key, error, force=force)
                if _same_files(served):  # else purged by an erasure: load it again below
                    self._previous = _erasures_reflected(self._previous, served.bundle.manifest)
                    self._drop_finished_stand_in()
                    self._refused = self.last_error = None
                    return ReloadOutcome("unchanged", run_id)
            try:
                fresh, stamps = self._load(run_id)
            except Exception as error:  # any failure must leave a verified model serving
                return self._refuse(key, error, force=force)
            self._swap(fresh, stamps, keep_stand_in=True)
            return_freed_memory()
            self._refused = self.last_error = None
            logger.info(
                "now serving model %s (was %s)", run_id, served.version if served else "nothing"
            )
            self._notify("swapped")
            return ReloadOutcome("swapped", run_id)

    def _refuse(self, key: tuple[str, Stamps], error: Exception, *, force: bool) -> ReloadOutcome:
        """Record that the published run cannot be served as its manifest read when `key` was
        taken, and serve the best valid run: the one serving now if its files are intact, else
        the newest valid fallback, else (nothing else valid) what is loaded, as it was verified
        when loaded."""
        run_id = key[0]
        self._refused = key
        self._notify("refused")
        refused = f"published run {run_id} refused: {_public_reason(error)}"
        served = self.served
        if (
            served is not None
            and served.version != run_id
            and self._intact(served, full=force)
            and _same_files(served)
            and artifacts.erasures_applied(served.bundle.manifest) >= self._latest_erasure()
        ):
            self.last_error = f"{refused}; serving run {served.version}"
            logger.error("%s (%s); still serving run %s", refused, _describe(error), served.version)
            return ReloadOutcome("refused", served.version, self.last_error)
        skipped: list[str] = []
        for candidate in artifacts.fallback_run_ids(self.models_dir):
            try:
                fresh, stamps = self._load(candidate)
            except Exception as failure:  # try the next older one
                skipped.append(f"run {candidate} ({_describe(failure)})")
                continue
            # the reason first: whoever sees the fallback served sees why
            self.last_error = f"{refused}; serving run {candidate}, the newest valid run"
            self._swap(fresh, stamps, keep_stand_in=False)
            return_freed_memory()
            logger.error(
                "%s (%s); serving run %s instead, the newest valid run%s",
                refused,
                _describe(error),
                candidate,
                f" (refused too: {', '.join(skipped)})" if skipped else "",
            )
            self._notify("fallback")
            return ReloadOutcome("refused", candidate, self.last_error)
        still = (
            f"run {served.version} stays served as it was loaded" if served else "nothing is served"
        )
        self.last_error = f"{refused}; no other run is valid, {still}"
        logger.error(
            "%s (%s); no valid run to fall back to%s, %s",
            refused,
            _describe(error),
            f" (refused: {', '.join(skipped)})" if skipped else "",
            still,
        )
        return ReloadOutcome("refused", served.version if served else None, self.last_error)

    def _load(self, run_id: str) -> tuple[ServedModel, Stamps]:
        """Verify, load and smoke-test run `run_id`; its stamps are taken once it verified."""
        path = artifacts.run_path(self.models_dir, run_id)
        if not path.is_dir():
            raise ModelNotFoundError(f"run {run_id} does not exist in {path.parent}")
        bundle = artifacts.load_bundle(
            path,
            latest_erasure=self._latest_erasure(),
            compact=True,
            snapshots=not CatalogRecords.saved_in(path / artifacts.LISTS_DIR),
        )
        stamps = _stamps(path, bundle.manifest)
        return build_served(bundle, self.engine, min_readers=self.min_readers), stamps

    def _swap(self, fresh: ServedModel, stamps: Stamps, *, keep_stand_in: bool) -> None:
        """Serve `fresh`; the outgoing model may stand in while `fresh` computes its lists
        (not a model whose run was just refused)."""
        served = self.served
        self.served, self._stamps = fresh, stamps
        fresh.readers.start_background()
        if served is not None:
            served.readers.retire()
        stand_in = _more_complete(served, self._previous) if keep_stand_in else None
        self._previous = _erasures_reflected(stand_in, fresh.bundle.manifest)
        self._drop_finished_stand_in()

    def _drop_finished_stand_in(self) -> None:
        """Let the previous model go once the served one has every reader's list (at once
        for a bundle that carries them): a replaced model's private memory (its catalog
        index, reader index, popular lists) would otherwise stay with the worker."""
        served = self.served
        if served is not None and served.readers.complete:
            self._previous = None

    def _latest_erasure(self) -> int:
        """The store's latest erasure; while the database does not answer, the newest one a
        saved run reflects (every erasure is recorded in every run it purges)."""
        try:
            if self.engine is not None:
                return latest_erasure(self.engine)
        except SQLAlchemyError as error:
            logger.warning(
                "the database does not answer (%s): runs are checked against the erasures the "
                "saved runs record",
                type(error).__name__,
            )
        return artifacts.newest_erasure_recorded(self.models_dir)

    def _check_intact(self, served: ServedModel, *, full: bool) -> None:
        """Raise `BundleIntegrityError` when the served run's files no longer verify: checked
        against their checksums when their sizes or times changed, and every file hashed again
        when `full`."""
        stamps = _stamps(served.bundle.path, served.bundle.manifest)
        if full or stamps != self._stamps:
            artifacts.verify_bundle(served.bundle.path, rehash=full)
            self._stamps = stamps

    def _intact(self, served: ServedModel, *, full: bool) -> bool:
        try:
            self._check_intact(served, full=full)
        except Exception:
            return False
        return True

    def _refusal_key(self, run_id: str) -> tuple[str, Stamps]:
        """The run and its manifest's stamp: a manifest rewritten since a refusal (a purge that
        was half done then) is worth a retry."""
        try:
            manifest = artifacts.run_path(self.models_dir, run_id) / artifacts.MANIFEST
        except ModelNotFoundError:
            return run_id, ()
        return run_id, (_stamp(manifest),)

    def stand_in(self) -> ServedModel | None:
        """The model served before, while the served one still computes its reader lists.

        A reader whose list the new model has not computed yet can get the previous model's
        list at once (labelled with its version) instead of waiting for a scoring batch. Once
        every list is in, the previous model is let go.
        """
        self._drop_finished_stand_in()
        return self._previous

    def _notify(self, outcome: str) -> None:
        if self._on_swap is not None:
            self._on_swap(outcome)

    async def poll(self, interval: float) -> None:
        """Check `CURRENT` every `interval` seconds until cancelled (loads run in a thread)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # keep polling whatever happened in one round
                logger.exception("model poll failed; will retry")


def _same_files(served: ServedModel) -> bool:
    """Whether the served run still has the files `served` was loaded from. A purge that found
    none of its readers in the run only re-writes the manifest's erasure record: the served copy
    takes the new manifest without a reload."""
    path = served.bundle.path
    stamp = artifacts.manifest_sha256(path)
    if stamp == served.bundle.manifest_sha256:
        return True
    try:
        manifest = artifacts.read_manifest(path)
    except RecsysError:
        return False
    if (
        stamp is None
        or manifest is None
        or manifest.get("files") != served.bundle.manifest.get("files")
    ):
        return False
    served.bundle = dataclasses.replace(served.bundle, manifest=manifest, manifest_sha256=stamp)
    return True


def _erasures_reflected(
    stand_in: ServedModel | None, manifest: dict[str, Any]
) -> ServedModel | None:
    """`stand_in`, unless it reflects fewer erasures than the run `manifest` describes: it may
    hold a reader erased since (the same run before its purge, say)."""
    if stand_in is None:
        return None
    reflected = artifacts.erasures_applied(stand_in.bundle.manifest)
    return stand_in if reflected >= artifacts.erasures_applied(manifest) else None


def _stamps(path: Path, manifest: dict[str, object]) -> Stamps:
    files = manifest.get("files")
    names = sorted(files) if isinstance(files, dict) else []
    return tuple(_stamp(path / name) for name in (artifacts.MANIFEST, *names))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Size, time and inode: a file replaced atomically (a purge's) differs even when written
    within the file system's timestamp tick at the same size."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns, status.st_ino


def _public_reason(error: Exception) -> str:
    """Why a run cannot be served, in words fit for public answers: no path, no file name."""
    if isinstance(error, ModelNotFoundError):
        return "it does not exist"
    if isinstance(error, BundleIntegrityError):
        return "its files are missing or do not match the checksums in its manifest"
    if isinstance(error, ErasurePendingError):
        return "it was trained before the latest erasure and not purged since"
    return f"it failed to load or to answer a smoke query ({type(error).__name__})"


def _describe(error: Exception) -> str:
    """The full error, paths included, for the log only."""
    return f"{type(error).__name__}: {error}"
