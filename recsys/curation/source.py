"""The librarians' rules as one process sees them: read again when the store's version changes.

The service asks `CurationSource.current(served)` for every list; it compiles the rules once per
served catalog and store version, and again when a rule starts or expires. `refresh` (every
second in the service, and at once after the admin API changed a rule) compares the store's
version number and reads the rules only when it moved, so a rule made by any process takes
effect within a poll interval, and one made through this process's admin API from the next
request on. A store that does not answer keeps the rules last read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recsys.curation.manage import ReadingList, reading_lists, rules
from recsys.curation.rules import CurationSet, Rule
from recsys.db.curation import curation_version

if TYPE_CHECKING:
    from recsys.lists.served import ServedModel

logger = logging.getLogger(__name__)


class CurationSource:
    """The rules and reading lists of the store behind `engine` (none without one)."""

    def __init__(self, engine: Engine | None, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._version = -1
        self._rules: list[Rule] = []
        self._lists: dict[str, ReadingList] = {}
        self._compiled: dict[tuple[str, float], CurationSet] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        """The store version last read (-1 before the first read)."""
        return self._version

    def refresh(self) -> bool:
        """Read the rules again if the store's version moved; whether it did."""
        if self._engine is None:
            return False
        try:
            version = curation_version(self._engine)
            if version == self._version:
                return False
            found_rules = rules(self._engine)
            found_lists = {r.list_id: r for r in reading_lists(self._engine)}
        except SQLAlchemyError as error:
            logger.warning("curation rules not read (%s); keeping the last", type(error).__name__)
            return False
        with self._lock:
            self._version, self._rules, self._lists = version, found_rules, found_lists
            self._compiled = {}
        return True

    def current(self, served: ServedModel) -> CurationSet:
        """The rules in force now, compiled for `served`'s catalog."""
        key = (served.version, served.loaded_at)
        found = self._compiled.get(key)
        now = self._clock()
        if found is not None and now < found.valid_until:
            return found
        with self._lock:
            compiled = CurationSet(
                self._rules,
                served.catalog.position,
                len(served.catalog),
                store_version=max(self._version, 0),
                now=now,
            )
            if len(self._compiled) >= 4:  # the served model and a stand-in, at most
                self._compiled.clear()
            self._compiled[key] = compiled
        return compiled

    def rules(self) -> list[Rule]:
        """The rules not removed, as last read (some may not have started or have expired)."""
        return self._rules

    def reading_lists(self) -> dict[str, ReadingList]:
        """The published reading lists by id."""
        return self._lists
