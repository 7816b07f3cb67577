"""The right to erasure: remove a reader from the store and from every saved model run, at once.

`erase_reader` is what `recsys forget` and ``DELETE /admin/readers/{id}`` run, one erasure at a
time (`recsys.nightly.lock.erasure_lock`):

1. `forget_reader`, in one transaction: the reader's loans, views, feedback, exclusions and
   category are deleted, a ``no``
   consent answer is recorded under their pseudonym (personalization is denied from this moment,
   and any later export of their loans is kept out of training), and a row ``(erasure, 1, at)``
   is added to `privacy_events`: erasures are counted, never listed by id. The row's id numbers
   the erasure.
2. `purge_runs`: every saved run under ``models/runs`` loses the reader, under every pseudonym
   the key chain gave them (runs trained before a key rotation know an older one): their id,
   training rows and factors (`Recommender.forget_readers`), and the run's precomputed lists
   are computed again from the purged model. The run's files and checksums are
   re-written and its manifest records that it reflects this erasure and when it was purged
   (never who). A run that missed an earlier erasure (it read its data before that erasure and
   was saved after it was purged) can never be served again, so its model files are deleted, as
   are those of an unfinished run (a crashed job, or one that read its data before this erasure).

Loading and publishing refuse a run that does not reflect the latest erasure
(`recsys.artifacts.check_erasures`), and the running service re-loads a purged `CURRENT`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from recsys import artifacts
from recsys.config import Settings
from recsys.consent import record_answer
from recsys.db.engine import make_engine
from recsys.db.privacy_events import event_total, latest_event_id, record_event
from recsys.db.queries import delete_reader
from recsys.exceptions import BundleIntegrityError, RecsysError
from recsys.lists.served import served_lists
from recsys.nightly.lock import erasure_lock

logger = logging.getLogger(__name__)

ERASURE_EVENT = "erasure"


@dataclass(frozen=True)
class ErasureResult:
    """What one erasure removed from the store (counts only), and its number."""

    loans_deleted: int
    views_deleted: int
    #: the erasure's `privacy_events` id, and the id of the erasure before it (0: none)
    erasure_id: int = 0
    previous_erasure_id: int = 0
    #: feedback on books and exclusions from what feeds their suggestions
    feedback_deleted: int = 0


@dataclass
class PurgeReport:
    """What an erasure did to the saved runs (run ids only)."""

    #: runs that held the reader and were re-written without them
    purged: list[str] = field(default_factory=list)
    #: runs whose model files were deleted (unfinished, or missed an earlier erasure)
    discarded: list[str] = field(default_factory=list)
    #: runs that could not be purged, with the reason (they are refused until purged)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Erasure:
    """The outcome of a complete `erase_reader`."""

    store: ErasureResult
    runs: PurgeReport


class ErasureIncompleteError(RecsysError):
    """The reader was erased from the store, but some saved runs could not be purged."""


def erase_reader(
    engine: Engine, models_dir: Path, *, pseudonyms: Sequence[str], at: int | None = None
) -> Erasure:
    """Erase the reader known by `pseudonyms` (every pseudonym of their card number under the key
    chain, oldest first: `Pseudonymizer.pseudonyms`) from the store and every saved run.

    Raises `ErasureIncompleteError` (after doing all it can) when a run could not be purged.
    """
    if not pseudonyms:
        raise ValueError("pseudonyms must name the reader at least once")
    with erasure_lock(models_dir):
        store = forget_reader(engine, pseudonym=pseudonyms[-1], at=at)
        runs = purge_runs(
            models_dir,
            pseudonyms,
            erasure_id=store.erasure_id,
            previous_erasure_id=store.previous_erasure_id,
        )
    logger.info(
        "reader erased (%d loans, %d views); runs purged %d, discarded %d, failed %d",
        store.loans_deleted,
        store.views_deleted,
        len(runs.purged),
        len(runs.discarded),
        len(runs.failed),
    )
    if runs.failed:
        reasons = "; ".join(f"run {run_id}: {reason}" for run_id, reason in runs.failed.items())
        raise ErasureIncompleteError(
            f"the reader was erased from the store ({store.loans_deleted} loan events and "
            f"{store.views_deleted} views deleted, personal suggestions off), but "
            f"{len(runs.failed)} saved model run(s) could not be purged ({reasons}); publish, "
            "rollback and a service (re)load refuse them until they are. Fix the cause and run "
            "the erasure again (it is safe to repeat)"
        )
    return Erasure(store, runs)


def forget_reader(engine: Engine, *, pseudonym: str, at: int | None = None) -> ErasureResult:
    """Erase the reader `pseudonym` from the store: delete loans, views, feedback, exclusions
    and category, deny
    personalization, count it (step 1 of `erase_reader`; the saved runs are not touched).

    Erasing an unknown or already erased reader is not an error: it records the refusal all the
    same, so the answer never reveals whether someone had a history.
    """
    now = int(time.time()) if at is None else int(at)
    with engine.begin() as connection:
        previous = latest_erasure_in(connection)
        deleted = delete_reader(connection, reader_id=pseudonym)
        # An erasure overrides any stored answer, however recent its timestamp.
        record_answer(connection, reader_id=pseudonym, consented=False, at=now)
        erasure_id = record_event(connection, kind=ERASURE_EVENT, count=1, at=now)
    return ErasureResult(
        deleted["loans"],
        deleted["views"],
        erasure_id,
        previous,
        feedback_deleted=deleted["feedback"] + deleted["exclusions"],
    )


def purge_runs(
    models_dir: Path, readers: Sequence[str], *, erasure_id: int, previous_erasure_id: int
) -> PurgeReport:
    """Remove `readers` (pseudonyms) from every saved run for erasure `erasure_id` (step 2 of
    `erase_reader`, which holds the erasure lock while it runs)."""
    report = PurgeReport()
    models_dir = Path(models_dir)
    for run_id in artifacts.list_runs(models_dir):
        path = artifacts.run_path(models_dir, run_id)
        try:
            manifest = artifacts.read_manifest(path)
            servable = (
                manifest is not None and artifacts.erasures_applied(manifest) >= previous_erasure_id
            )
            if servable and artifacts.purge_bundle(
                path,
                readers,
                erasure_id=erasure_id,
                previous_erasure_id=previous_erasure_id,
                lists_of=served_lists,
            ):
                report.purged.append(run_id)
            elif not servable and artifacts.discard_model(path):
                report.discarded.append(run_id)
        except BundleIntegrityError:  # a damaged run is never served: nothing of it may stay
            if artifacts.discard_model(path):
                report.discarded.append(run_id)
        except OSError as error:
            if path.is_dir():  # a run pruned meanwhile holds nothing any more
                report.failed[run_id] = f"{type(error).__name__}: {error}"
    return report


def latest_erasure(engine: Engine) -> int:
    """The id of the newest erasure recorded (0: none yet); runs must reflect it to be served."""
    with engine.connect() as connection:
        return latest_erasure_in(connection)


def stored_latest_erasure(settings: Settings) -> int:
    """`latest_erasure` of the store `settings` name (for commands without an engine)."""
    engine = make_engine(settings)
    try:
        return latest_erasure(engine)
    finally:
        engine.dispose()


def latest_erasure_in(connection: Connection) -> int:
    """`latest_erasure` inside the caller's transaction."""
    return latest_event_id(connection, kind=ERASURE_EVENT)


def erasure_count(engine: Engine) -> int:
    """How many erasures have been carried out (the only trace they leave)."""
    return event_total(engine, kind=ERASURE_EVENT)
