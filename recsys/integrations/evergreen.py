"""Evergreen's circulations: a renewal is a circulation of its own.

Evergreen closes the old ``action.circulation`` row at a renewal and opens a new one whose
``parent_circ`` points at it, with one of the ``*_renewal`` flags set (see
Open-ILS/src/sql/Pg/090.schema.action.sql). So each row is one event, a loan or a renewal.
"""

from __future__ import annotations

import pandas as pd

from recsys.columns import Events
from recsys.integrations.rules import Classified, text, true_flag

PARENT_CIRC = "parent_circ"
RENEWAL_FLAGS = ("desk_renewal", "opac_renewal", "phone_renewal", "auto_renewal")


def classify_circulations(raw: pd.DataFrame) -> Classified:
    """A row with a parent circulation or a renewal flag is a renewal, any other a loan."""
    renewal = text(raw, PARENT_CIRC).notna()
    for flag in RENEWAL_FLAGS:
        renewal |= true_flag(raw, flag)
    event = pd.Series(Events.LOAN, index=raw.index, dtype=object).mask(renewal, Events.RENEWAL)
    return Classified(event=event, set_aside=pd.Series(None, index=raw.index, dtype=object))
