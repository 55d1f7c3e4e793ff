"""Deleting jobs from the job history once they are older than its retention.

Each gateway with a history sweeps at start and then hourly: the jobs created more than
``JobSettings.history_retention_days`` ago are deleted (a few thousand rows per statement).
Gateways sweeping together only delete the same rows once; a sweep that fails (the
database away) is logged and tried again at the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time

from scaleserve.background import stop_task
from scaleserve.jobs.history import JobHistory

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 3600.0
DAY_S = 86400.0


class HistoryRetention:
    """Keeps ``history`` to its last ``retention_days`` (0: keeps everything)."""

    def __init__(
        self, history: JobHistory, retention_days: float, interval_s: float = SWEEP_INTERVAL_S
    ) -> None:
        self._history = history
        self._retention_s = retention_days * DAY_S
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._retention_s > 0:
            self._task = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        await stop_task(self._task)

    async def sweep(self, now: float | None = None) -> int:
        """Delete what retention lets go of now; how many jobs."""
        cutoff = (time.time() if now is None else now) - self._retention_s
        dropped = await self._history.drop_before(cutoff)
        if dropped:
            log.info("job history: %d jobs older than the retention deleted", dropped)
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("the job history's retention sweep failed; trying again later")
            await asyncio.sleep(self._interval_s)
