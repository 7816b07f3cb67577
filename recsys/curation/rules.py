"""Librarians' rules, and the set of them active at one moment as the list pipeline applies them.

A `Rule` is what a librarian decided (stored with who, when and why by `recsys.curation.store`);
a `CurationSet` is the rules active at one moment compiled against one served catalog: per scope
(library, audience) a mask of hidden books and the boost/bury factors, the never-pair partners of
each book, and the pins. Every list kind asks the same `CurationSet` (`recsys.lists.pipeline`), so
a rule holds everywhere at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

PIN = "pin"
BOOST = "boost"
BURY = "bury"
SUPPRESS = "suppress"
NEVER_PAIR = "never_pair"
STAFF_PICK = "staff_pick"
RULE_KINDS = (PIN, BOOST, BURY, SUPPRESS, NEVER_PAIR, STAFF_PICK)
#: Shown beside a pinned book (and a staff pick without a label of its own).
PIN_REASON = "librarian's pick"
STAFF_PICK_REASON = "staff pick"


@dataclass(frozen=True)
class Scope:
    """Where a list is shown: the branch and audience it was asked for (None: any)."""

    library: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class Rule:
    """One librarian's rule. `book_id` is the book it is about; `anchor_id` the other book of a
    never-pair rule, or the book whose per-book list a pin goes into (None: every list in scope);
    `position` is 1-based; `factor` multiplies scores (boost > 1, bury < 1)."""

    id: int
    kind: str
    book_id: str
    anchor_id: str | None = None
    position: int | None = None
    factor: float | None = None
    label: str | None = None
    library_id: str | None = None
    audience: str | None = None
    starts_at: int = 0
    expires_at: int | None = None
    created_by: str = ""
    created_at: int = 0
    reason: str = ""

    def active_at(self, now: float) -> bool:
        return self.starts_at <= now and (self.expires_at is None or now < self.expires_at)

    def summary(self) -> str:
        """One line saying what the rule does, for people (the CLI, the notebook)."""
        parts = [self.kind, self.book_id]
        if self.anchor_id:
            where = "with" if self.kind == NEVER_PAIR else "in the list of"
            parts.append(f"{where} {self.anchor_id}")
        if self.position:
            parts.append(f"at {self.position}")
        if self.factor:
            parts.append(f"x{self.factor:g}")
        if self.label:
            parts.append(f"labelled {self.label!r}")
        scope = ", ".join(x for x in (self.library_id, self.audience) if x)
        parts.append(f"for {scope}" if scope else "everywhere")
        if self.expires_at:
            parts.append(f"until {datetime.fromtimestamp(self.expires_at, UTC):%Y-%m-%d %H:%M} UTC")
        return " ".join(parts)

    def applies_to(self, scope: Scope) -> bool:
        """Whether the rule holds for a list shown in `scope` (an unscoped rule holds always)."""
        return (self.library_id is None or self.library_id == scope.library) and (
            self.audience is None or self.audience == scope.audience
        )


@dataclass(frozen=True)
class Pin:
    """A book placed at a 1-based slot of a list, with the reason shown beside it."""

    position: int
    slot: int
    reason: str


class CurationSet:
    """The rules active at `now`, compiled against one catalog (book id -> position lookup).

    `version` names the rules (the store's change counter and which rules are active), so caches
    of rendered lists can carry it; `valid_until` is when a rule starts or expires next, after
    which the set must be compiled again.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        position: dict[str, int],
        size: int,
        *,
        store_version: int,
        now: float,
    ) -> None:
        self._size = size
        self._position = position
        active = [r for r in rules if r.active_at(now) and r.book_id in position]
        self._rules = active
        changes = [r.starts_at for r in rules if r.starts_at > now]
        changes += [r.expires_at for r in rules if r.expires_at is not None and r.expires_at > now]
        self.valid_until = float(min(changes)) if changes else float("inf")
        ids = ",".join(str(r.id) for r in sorted(active, key=lambda r: r.id))
        self.version = f"{store_version}.{hashlib.sha256(ids.encode()).hexdigest()[:8]}"
        self._partners: dict[int, list[int]] = {}
        for rule in active:
            if rule.kind == NEVER_PAIR and rule.anchor_id in position:
                a, b = position[rule.book_id], position[rule.anchor_id]
                self._partners.setdefault(a, []).append(b)
                self._partners.setdefault(b, []).append(a)
        self._scoped: dict[Scope, tuple[np.ndarray | None, np.ndarray | None]] = {}
        self._lock = threading.Lock()

    @property
    def empty(self) -> bool:
        return not self._rules

    def hidden(self, scope: Scope) -> np.ndarray | None:
        """Mask of the books suppressed in `scope` (None: none)."""
        return self._compiled(scope)[0]

    def factors(self, scope: Scope) -> np.ndarray | None:
        """Per catalog position, the product of boost/bury factors in `scope` (None: all 1)."""
        return self._compiled(scope)[1]

    def partners(self, anchors: Iterable[int]) -> list[int]:
        """Positions never to be listed beside any of the books at `anchors`."""
        found: list[int] = []
        for anchor in anchors:
            found += self._partners.get(int(anchor), [])
        return found

    def pins(self, scope: Scope, anchor: int | None = None) -> list[Pin]:
        """The pins and staff picks of a list in `scope` (a per-book list passes its book as
        `anchor`), ordered by slot."""
        pins = []
        for rule in self._rules:
            if rule.kind not in (PIN, STAFF_PICK) or not rule.applies_to(scope):
                continue
            if rule.anchor_id is not None and (
                anchor is None or self._position.get(rule.anchor_id) != anchor
            ):
                continue
            reason = PIN_REASON
            if rule.kind == STAFF_PICK:
                reason = f"{STAFF_PICK_REASON}: {rule.label}" if rule.label else STAFF_PICK_REASON
            pins.append(Pin(self._position[rule.book_id], rule.position or 1, reason))
        return sorted(pins, key=lambda p: p.slot)

    def _compiled(self, scope: Scope) -> tuple[np.ndarray | None, np.ndarray | None]:
        with self._lock:
            found = self._scoped.get(scope)
        if found is not None:
            return found
        hidden: np.ndarray | None = None
        factors: np.ndarray | None = None
        for rule in self._rules:
            if not rule.applies_to(scope):
                continue
            where = self._position[rule.book_id]
            if rule.kind == SUPPRESS:
                hidden = np.zeros(self._size, dtype=bool) if hidden is None else hidden
                hidden[where] = True
            elif rule.kind in (BOOST, BURY) and rule.factor is not None:
                factors = np.ones(self._size, dtype=np.float64) if factors is None else factors
                factors[where] *= rule.factor
        compiled = (hidden, factors)
        with self._lock:
            self._scoped[scope] = compiled
        return compiled


def no_rules(size: int) -> CurationSet:
    """A set without rules (a library that curates nothing, the batch without a database)."""
    return CurationSet([], {}, size, store_version=0, now=0.0)
