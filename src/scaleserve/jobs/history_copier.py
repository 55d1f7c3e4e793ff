"""Copying ended jobs from Redis to the job history.

Every Lua step that ends a job (succeeded, failed, expired, cancelled, dead-lettered) adds
its id to the stream of ended jobs (``RedisKeys.ended_jobs``, capped). ``HistoryCopier``, in
each gateway with a history, reads it as one consumer of the ``history`` group: a batch of
entries is loaded from Redis, recorded in the history in one transaction, then
acknowledged. An entry is acknowledged only once its job is recorded, so nothing is lost
while the history is down: the batch stays pending, this copier reads its own pending
entries again (backing off) until the history takes them, and entries a dead gateway left
pending are claimed by another after ``claim_idle_s``. Recording is idempotent, so a batch
copied twice (a claim racing a slow copier) changes nothing.

A job must still be in Redis when its entry is read: one whose retention passed first (the
history down for longer than ``SCALESERVE_JOB_RESULT_TTL_S``) is logged and let go.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from scaleserve.background import stop_task
from scaleserve.errors import HistoryUnavailable, QueueUnavailable
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.history import JobHistory
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import HISTORY_GROUP, RedisKeys

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]
"""A stream entry as redis-py reads it; no fields when it was trimmed while pending."""


@dataclass(frozen=True)
class CopierSettings:
    batch_size: int = 200
    claim_idle_s: float = 60.0
    """How long an entry may stay pending (its gateway died) before another copier takes it."""
    block_ms: int = 1000
    retry_s: float = 0.5
    """The first wait after a failed copy; it doubles up to ``max_retry_s``."""
    max_retry_s: float = 15.0


class HistoryCopier:
    """Reads the stream of ended jobs as one consumer of the ``history`` group."""

    def __init__(
        self,
        redis: Redis,
        store: RedisJobStore,
        history: JobHistory,
        keys: RedisKeys,
        settings: CopierSettings | None = None,
    ) -> None:
        self._redis = redis
        self._store = store
        self._history = history
        self._stream = keys.ended_jobs()
        self._settings = settings or CopierSettings()
        self._consumer = f"gateway-{os.getpid()}-{os.urandom(3).hex()}"
        self._own_pending = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await redis_wire.ensure_group(self._redis, self._stream, HISTORY_GROUP)
        self._task = asyncio.create_task(self._copy_forever())

    async def close(self) -> None:
        await stop_task(self._task)

    async def copy_once(self, *, block: bool = True) -> int:
        """One round: claim or read a batch, record its jobs, acknowledge it; returns how
        many entries were acknowledged. Raises when Redis or the history fails (the batch
        stays pending, and is read again by the next round). ``block``: wait up to
        ``block_ms`` for new entries when there are none."""
        entries = await self._claimed() or await self._read(block)
        if not entries:
            return 0
        try:
            await self._record(entries)
        except BaseException:
            self._own_pending = True  # read this consumer's pending entries first, next time
            raise
        ids = [entry_id for entry_id, _ in entries]
        return int(await self._redis.xack(self._stream, HISTORY_GROUP, *ids))

    async def _copy_forever(self) -> None:
        wait_s = self._settings.retry_s
        while True:
            try:
                await self.copy_once()
                wait_s = self._settings.retry_s
            except asyncio.CancelledError:
                raise
            except (HistoryUnavailable, QueueUnavailable, *REDIS_ERRORS) as exc:
                log.warning("copying ended jobs to the history failed (%s); retrying", exc)
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, self._settings.max_retry_s)

    async def _claimed(self) -> list[Entry]:
        """Entries another copier left pending too long (it died)."""
        answer: Any = await self._redis.xautoclaim(
            self._stream,
            HISTORY_GROUP,
            self._consumer,
            int(self._settings.claim_idle_s * 1000),
            "0-0",
            count=self._settings.batch_size,
        )
        return list(answer[1])

    async def _read(self, block: bool) -> list[Entry]:
        """This copier's own pending entries after a failure, else new ones."""
        start = "0" if self._own_pending else ">"
        block_ms = self._settings.block_ms if block and not self._own_pending else None
        answer = cast(
            redis_wire.StreamRead,
            await self._redis.xreadgroup(
                HISTORY_GROUP,
                self._consumer,
                {self._stream: start},
                count=self._settings.batch_size,
                block=block_ms,
            )
            or [],
        )
        entries: list[Entry] = [e for _, stream_entries in answer for e in stream_entries]
        if self._own_pending and not entries:
            self._own_pending = False
            return await self._read(block)
        return entries

    async def _record(self, entries: list[Entry]) -> None:
        job_ids = list(dict.fromkeys(f[b"job"].decode() for _, f in entries if f and b"job" in f))
        loaded = await self._store.load_many(job_ids)
        jobs = [job for job in loaded if job is not None and job.status.terminal]
        gone = [job_id for job_id, job in zip(job_ids, loaded, strict=True) if job is None]
        if gone:
            log.warning(
                "%d ended jobs left Redis before they were copied to the history: %s",
                len(gone),
                ", ".join(gone[:10]),
            )
        await self._history.record(jobs)
