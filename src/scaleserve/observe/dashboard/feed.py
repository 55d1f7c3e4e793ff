"""The dashboard's data: ``DashboardFeed`` takes one snapshot of the service (its own
Prometheus metrics, diffed against the previous reading, plus what ``read_extras`` adds);
``Sampler`` runs one feed for every open page, once a second while anyone watches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import orjson

from scaleserve.observe.dashboard.compute import SAMPLES, summarize
from scaleserve.observe.dashboard.scrape import Scrape, parse

log = logging.getLogger(__name__)

ReadMetrics = Callable[[], bytes]
"""The text exposition, as ``/metrics`` serves it."""
ReadExtras = Callable[[], Awaitable[dict[str, Any]]]
"""What the metrics do not tell: ``rollouts``, ``usage_today``, ``recent_errors``, ..."""


class DashboardFeed:
    """Snapshots of the service: ``{"at", "models", "tenants", "drift"}`` from the metrics,
    with whatever ``read_extras`` returns merged over them.

    Rates and latency quantiles cover the time since the previous snapshot; the first one
    (or one taken more than ``max_gap_s`` after the previous) has ``None`` rates. Extras
    that fail are logged and left out of that snapshot.
    """

    def __init__(
        self,
        read_metrics: ReadMetrics,
        read_extras: ReadExtras,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
        max_gap_s: float = 10.0,
    ) -> None:
        self._read_metrics = read_metrics
        self._read_extras = read_extras
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_gap_s = max_gap_s
        self._previous: Scrape | None = None

    async def snapshot(self) -> dict[str, Any]:
        text = self._read_metrics().decode(errors="replace")
        current = Scrape(self._clock(), parse(text, SAMPLES))
        previous, self._previous = self._previous, current
        if previous is not None and current.at_s - previous.at_s > self._max_gap_s:
            previous = None
        measured = summarize(previous, current)
        return {"at": round(self._wall_clock(), 3), **measured, **await self._extras()}

    async def _extras(self) -> dict[str, Any]:
        try:
            return dict(await self._read_extras())
        except Exception:
            log.warning("dashboard: reading the extras failed; left out", exc_info=True)
            return {}


Update = tuple[str, bytes]
"""A snapshot's id (``<sampler>-<number>``, for SSE's ``Last-Event-ID``) and its JSON."""


class Sampler:
    """One feed shared by every open page: a snapshot each ``interval_s`` while anyone
    watches (however many do), none once nobody has for ``linger_s`` (a page resuming its
    stream keeps the beat). The last ``history`` snapshots are kept, encoded as JSON, so a
    page opened or reloaded draws the recent past at once, and one that reconnects gets what
    it missed.
    """

    def __init__(
        self,
        feed: DashboardFeed,
        interval_s: float = 1.0,
        history: int = 300,
        *,
        linger_s: float = 5.0,
    ) -> None:
        self._feed = feed
        self._interval_s = interval_s
        self._linger_s = linger_s
        self._left_at = -math.inf
        self._history: deque[tuple[int, bytes]] = deque(maxlen=history)
        self._name = secrets.token_hex(4)  # ids of another sampler (a restart) mean nothing
        self._taken = 0
        self._watchers = 0
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def watchers(self) -> int:
        return self._watchers

    async def updates(self, last_id: str | None = None) -> AsyncGenerator[Update, None]:
        """Each snapshot after ``last_id`` (none: every one kept), until ``close``. A
        watcher slower than the sampler skips none that are still kept, and holds back no
        one else."""
        self._watchers += 1
        self._start()
        seen = self._number(last_id)
        try:
            while not self._closed.is_set():
                changed = self._changed
                for taken, snapshot in list(self._history):
                    if taken > seen:
                        seen = taken
                        yield f"{self._name}-{taken}", snapshot
                await changed.wait()
        finally:
            self._watchers -= 1
            self._left_at = asyncio.get_running_loop().time()

    def _number(self, update_id: str | None) -> int:
        """The number of one of this sampler's update ids; 0 for anything else."""
        name, _, number = (update_id or "").partition("-")
        if name != self._name or not number.isdigit() or int(number) > self._taken:
            return 0
        return int(number)

    async def close(self) -> None:
        """End every watcher's updates and stop sampling (a snapshot under way finishes)."""
        self._closed.set()
        self._changed.set()
        if self._task is not None:
            await self._task

    def _start(self) -> None:
        if (self._task is None or self._task.done()) and not self._closed.is_set():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed.is_set():
            started = loop.time()
            if not self._watchers and started - self._left_at >= self._linger_s:
                return
            await self._take()
            pause_s = max(0.0, self._interval_s - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), pause_s)

    async def _take(self) -> None:
        try:
            snapshot = await self._feed.snapshot()
        except Exception:
            if not self._failing:  # once per run of failures, not once a second
                log.exception("dashboard: taking a snapshot failed")
            self._failing = True
            return
        self._failing = False
        self._taken += 1
        self._history.append((self._taken, orjson.dumps(snapshot)))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
