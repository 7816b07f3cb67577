"""The service's model store: loads the published bundle and swaps in newer ones.

`ModelStore.served` (a `recsys.lists.served.ServedModel`) is swapped as one reference, so a request that took the old `ServedModel`
finishes on it while new requests get the new one: no request fails during a swap. A new bundle
is served only after it loaded completely and answered a smoke query; otherwise the old one keeps
serving and the log says why. Until the new model has computed every reader's list, the old one
stands in for readers whose list is not ready (`ModelStore.stand_in`), so none waits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from recsys import artifacts
from recsys.lists.served import ServedModel, build_served

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


class ModelStore:
    """Holds the served model and swaps in newly published ones."""

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
        self._refused: str | None = None
        self._lock = threading.Lock()
        self._on_swap = on_swap

    def refresh(self, *, force: bool = False) -> ReloadOutcome:
        """Serve the published run if it is new; `force` retries a run refused before."""
        with self._lock:
            run_id = artifacts.current_run_id(self.models_dir)
            served = self.served
            if run_id is None:
                return ReloadOutcome(
                    "nothing published",
                    served.version if served else None,
                    f"no CURRENT in {self.models_dir}",
                )
            if served is not None and served.version == run_id:
                return ReloadOutcome("unchanged", run_id)
            if run_id == self._refused and not force:
                return ReloadOutcome("refused", served.version if served else None, self.last_error)
            try:
                bundle = artifacts.load_bundle(artifacts.run_path(self.models_dir, run_id))
                fresh = build_served(bundle, self.engine, min_readers=self.min_readers)
            except Exception as error:  # any failure must leave the old model serving
                self._refused = run_id
                self.last_error = f"run {run_id} refused: {type(error).__name__}: {error}"
                logger.error(
                    "%s; still serving %s", self.last_error, served.version if served else "nothing"
                )
                self._notify("refused")
                return ReloadOutcome("refused", served.version if served else None, self.last_error)
            self.served = fresh
            fresh.readers.start_background()
            if served is not None:
                served.readers.retire()
            self._previous = _more_complete(served, self._previous)
            self._refused = None
            self.last_error = None
            logger.info(
                "now serving model %s (was %s)", run_id, served.version if served else "nothing"
            )
            self._notify("swapped")
            return ReloadOutcome("swapped", run_id)

    def stand_in(self) -> ServedModel | None:
        """The model served before, while the served one still computes its reader lists.

        A reader whose list the new model has not computed yet can get the previous model's
        list at once (labelled with its version) instead of waiting for a scoring batch. Once
        every list is in, the previous model is let go.
        """
        previous, served = self._previous, self.served
        if previous is not None and served is not None and served.readers.complete:
            self._previous = previous = None
        return previous

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
