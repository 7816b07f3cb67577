"""`every`: a worker's background step, repeated, that survives an outage without flooding the log.

The service's background steps (checking the pseudonym key, warming readers' lists) read the
database, which may be down for a while. A failed step is retried at the next interval; the log
says so once per outage, with the error's type only (never a reader id or an SQL parameter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def every(interval: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `step` now and then every `interval` seconds until cancelled; `what` names it in
    the log line of a failure."""
    failing = False
    while True:
        try:
            await step()
        except Exception as error:  # the type only: an error's text may hold a pseudonym
            if not failing:
                logger.warning("%s failed: %s", what, type(error).__name__)
            failing = True
        else:
            failing = False
        await asyncio.sleep(interval)
