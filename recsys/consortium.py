"""A consortium: member libraries sharing one model, each keeping control of its readers' data.

Members are the libraries of the holdings (`library_id`). With `RECSYS_CONSORTIUM` the
published bundle records the members (`consortium_record`), and a list made for one member
prefers the titles it holds, then titles other members hold (`recsys.lists`), each marked
``availability: local | consortium``. `RECSYS_POOL_LIBRARIES` names the members whose loans
train readers' histories into the shared model (every member by default); the loans made at the
others' libraries stay out of every model's readers (`pooled_dataset`), and the Spark engine
adds them only to its anonymous pair counts of at least `RECSYS_MIN_PAIR_SUPPORT` readers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.data.dataset import Dataset

#: Manifest key of a consortium bundle's members (`consortium_record`).
MANIFEST_KEY = "consortium"


def pooled_dataset(dataset: Dataset, libraries: tuple[str, ...] | None) -> Dataset:
    """`dataset` with only the interactions made at `libraries` (all of them for None). Views
    name no library, so they go too when the pool is limited."""
    if libraries is None:
        return dataset
    frame = dataset.interactions
    keep = frame[C.LIBRARY_ID].astype("string").isin(libraries).fillna(False).to_numpy(dtype=bool)
    return dataclasses.replace(dataset, interactions=frame.loc[keep].reset_index(drop=True))


def consortium_record(holdings: pd.DataFrame, settings: Settings) -> dict[str, Any]:
    """What a consortium bundle's manifest says of its members: every library of the
    holdings, and those whose loans trained readers' histories."""
    members = sorted(holdings[C.LIBRARY_ID].dropna().astype(str).unique().tolist())
    pooled = settings.pooled_libraries
    return {"members": members, "pooled": list(pooled) if pooled is not None else members}
