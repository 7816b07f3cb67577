"""The `runs` table: one row per nightly (or single-step) run, with its JSON summary.

Notebooks read the nightly history through `list_runs`; the summary never holds reader ids.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from recsys.db.tables import runs

RUNNING = "running"
INTERRUPTED = "interrupted"


def record_run_start(engine: Engine, *, run_id: str, started_at: int) -> None:
    """Insert the row of a starting run (status ``running``)."""
    with engine.begin() as connection:
        connection.execute(
            insert(runs).values(run_id=run_id, started_at=int(started_at), status=RUNNING)
        )


def record_run_end(
    engine: Engine,
    *,
    run_id: str,
    finished_at: int,
    status: str,
    decision: str | None,
    summary: dict[str, Any],
) -> None:
    """Close a run's row with its final status, decision and summary."""
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                finished_at=int(finished_at),
                status=status,
                decision=decision,
                summary=json.dumps(summary, sort_keys=True, default=str),
            )
        )


def mark_interrupted(engine: Engine, *, finished_at: int) -> list[str]:
    """Close rows left ``running`` by a process that died (call while holding the run lock)."""
    with engine.begin() as connection:
        stale = list(
            connection.execute(select(runs.c.run_id).where(runs.c.status == RUNNING)).scalars()
        )
        if stale:
            connection.execute(
                update(runs)
                .where(runs.c.run_id.in_(stale))
                .values(finished_at=int(finished_at), status=INTERRUPTED)
            )
    return stale


def last_summaries(engine: Engine, *, limit: int = 14) -> list[dict[str, Any]]:
    """The summaries of the newest finished runs, newest first."""
    query = (
        select(runs.c.summary)
        .where(runs.c.summary.is_not(None))
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [json.loads(text) for text in connection.execute(query).scalars()]


def list_runs(engine: Engine) -> pd.DataFrame:
    """All runs, oldest first, for plotting the nightly history.

    Columns: ``run_id, started_at, finished_at`` (UTC datetimes), ``status, decision``, and the
    summary flattened with dots (``timings.train``, ``metrics.candidate.ndcg@10``, ...).
    """
    query = select(runs).order_by(runs.c.started_at, runs.c.run_id)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=runs.c.keys())
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    summaries = [json.loads(text) if isinstance(text, str) else {} for text in frame["summary"]]
    flat = pd.json_normalize(summaries) if summaries else pd.DataFrame()
    flat = flat.drop(columns=[c for c in flat.columns if c in frame.columns], errors="ignore")
    return pd.concat([frame.drop(columns="summary"), flat.set_index(frame.index)], axis=1)
