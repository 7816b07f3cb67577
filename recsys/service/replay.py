"""The rendered lists one worker replays (`recsys.lists.rendered`).

`recsys.service.warm` opens (or writes, then opens) the served list version's folder and hands
it here; the front door asks `get` before it renders a reader's list. Only the default query is
rendered ahead, and only for the readers the model lists; anything else is rendered as before.

Right after a swap, until the new version's folder is placed, a reader whose rows are unchanged
gets the previous model's rendered list, labelled with that model's version, as
`ModelStore.stand_in` does for lists a new model has not computed yet: a swap does not make
every reader's next answer a render. Only under the same librarians' rules, and never from a
model that reflects fewer erasures than the served one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from recsys import artifacts
from recsys.lists.cache import Rendered
from recsys.lists.query import ListQuery
from recsys.lists.rendered import DEFAULT_QUERY, RenderedLists
from recsys.lists.served import ServedModel


@dataclass(frozen=True)
class _Replayed:
    version: Hashable  # `answers.version_of` of the model and rules they were made for
    served: ServedModel
    curation_version: str
    lists: RenderedLists


class Replays:
    """This worker's mapped rendered lists: of the served version once placed, until then of
    the version before."""

    def __init__(self) -> None:
        self._replayed: _Replayed | None = None

    def use(
        self, version: Hashable, served: ServedModel, curation_version: str, lists: RenderedLists
    ) -> None:
        """Replay `lists`, made for `version` (`served` under rules `curation_version`)."""
        self._replayed = _Replayed(version, served, curation_version, lists)

    def ready(self, version: Hashable) -> bool:
        """Whether lists of `version` are replayed."""
        return self._replayed is not None and self._replayed.version == version

    def get(
        self,
        version: Hashable,
        served: ServedModel,
        curation_version: str,
        pseudonym: str,
        query: ListQuery,
        fingerprint: bytes | None,
    ) -> Rendered | None:
        """The reader's rendered list if one was made for `query` and rows with `fingerprint`,
        for `version` (or, standing in, for the version before); None otherwise."""
        replayed = self._replayed
        if replayed is None or fingerprint is None or query != DEFAULT_QUERY:
            return None
        standing_in = replayed.version != version
        if standing_in and not _may_stand_in(replayed, served, curation_version):
            return None
        position = replayed.served.readers.index.get(pseudonym)
        found = None if position is None else replayed.lists.get(position, fingerprint)
        return replace(found, standing_in=True) if found is not None and standing_in else found


def _may_stand_in(replayed: _Replayed, served: ServedModel, curation_version: str) -> bool:
    reflected = artifacts.erasures_applied(replayed.served.bundle.manifest)
    return (
        replayed.curation_version == curation_version
        and reflected >= artifacts.erasures_applied(served.bundle.manifest)
    )
