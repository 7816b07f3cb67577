"""The service's pseudonym key follows the store's (a key rotation while it runs).

`recsys rotate-key` re-pseudonymizes the store and records the new key chain's fingerprint
(`recsys.store_key`). A service started before still holds the old chain: its pseudonyms would
name nobody, so an erasure would delete nothing while answering that it erased. `KeyWatch.check`
compares fingerprints, every poll interval and before every admin change. On a mismatch it reads
the key again from the settings (after a rotation the key file holds the new chain) and swaps the
app's pseudonymizer; when that key does not match either (a key from ``RECSYS_PSEUDONYM_KEY``
cannot change while the service runs), `KeyGuard` answers 503 on every route that takes a reader
id until a check succeeds.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sqlalchemy import Engine

from recsys.config import Settings
from recsys.exceptions import ConfigurationError
from recsys.privacy import Pseudonymizer
from recsys.store_key import matches_store

logger = logging.getLogger(__name__)

READER_PATHS = ("/readers/", "/admin/readers/")
STALE_KEY = (
    "the service's pseudonym key is not the one the store is keyed with (the key was rotated); "
    "it could not read the new key chain, so routes that take a reader id are refused: restart "
    "the service with the store's key chain"
)


class KeyWatch:
    """Keeps ``state.pseudonymizer`` (the app's) on the store's key chain."""

    def __init__(self, settings: Settings, state: Any) -> None:
        self._settings = settings
        self._state = state
        self._lock = threading.Lock()
        #: the key matches no longer and re-reading it did not help
        self.stale = False

    def check(self, engine: Engine) -> bool:
        """Compare with the store's fingerprint, re-reading the key on a mismatch; returns
        whether the app's pseudonymizer now has the store's key chain. Database errors raise."""
        with self._lock:
            if matches_store(engine, self._state.pseudonymizer):
                self.stale = False
                return True
            try:
                reread = Pseudonymizer(self._settings.pseudonym_key_bytes())
            except ConfigurationError as error:
                logger.error("the pseudonym key could not be read again: %s", error)
                reread = None
            if reread is not None and matches_store(engine, reread):
                self._state.pseudonymizer = reread
                self.stale = False
                logger.info("the store's pseudonym key changed: the new key chain is in use")
                return True
            if not self.stale:
                logger.error("%s", STALE_KEY)
            self.stale = True
            return False


class KeyGuard:
    """ASGI middleware: 503 on routes that take a reader id while the key is stale."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        watch: KeyWatch | None = (
            getattr(scope["app"].state, "key_watch", None) if scope["type"] == "http" else None
        )
        if watch is None or not watch.stale or not scope["path"].startswith(READER_PATHS):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": STALE_KEY}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
