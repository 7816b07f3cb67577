"""A reader's list from their state: what the service answers and what is rendered ahead.

A reader's state is what their list is made from besides the model and the rules: their loans
(None when the consent rule says they may not be personalized) and a digest of the store rows
they came from (`recsys.db.reader_state`), so that a list made from equal rows is the same list.
The service's front door and routes, its warming and the nightly's rendering ahead
(`recsys.lists.ahead`) all make a reader's list here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recsys.consent import ConsentRule
from recsys.curation.rules import CurationSet
from recsys.lists import pipeline
from recsys.lists.cache import Rendered
from recsys.lists.history import LoanHistory, history_from_rows
from recsys.lists.query import ListQuery
from recsys.lists.render import render
from recsys.lists.rendered import state_fingerprint
from recsys.lists.served import ServedModel


@dataclass(frozen=True, slots=True)
class ReaderState:
    """What a reader's list is made from besides the model: their loans (None: they may not be
    personalized) and a fingerprint of the rows they came from (equal fingerprints, same list)."""

    history: LoanHistory | None
    fingerprint: bytes | None

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]], rule: ConsentRule) -> ReaderState:
        """The state `recsys.db.reader_state`'s rows of one reader describe."""
        return cls(history_from_rows(rows, rule), state_fingerprint(rows))


def reader_list(
    served: ServedModel,
    curation: CurationSet,
    pseudonym: str,
    state: ReaderState,
    query: ListQuery,
    *,
    cheap: bool = False,
) -> Rendered:
    """A reader's list, rendered (the caller keeps it); `cheap` raises `pipeline.SlowPath`
    where the model must answer or a list is not ready."""
    if state.history is None:
        ranked = pipeline.non_personal_list(served, curation, query=query)
    else:
        ranked = pipeline.reader_list(
            served, curation, reader=pseudonym, history=state.history, query=query, cheap=cheap
        )
    return Rendered(render(served, ranked), ranked.strategy, fingerprint=state.fingerprint)
