"""Worker side of the Redis queue.

A worker reads new entries of its model's stream through the consumer group, and every
``claim_every_s`` takes over entries another worker has held for ``claim_idle_s`` without
acknowledging them (it died or stalled). Such entries are suspects: they are taken over
and run one at a time, so a poison item cannot take healthy ones down with it again, and
an entry delivered more than ``max_deliveries`` times goes to the dead-letter stream and
fails. Results are
recorded (job items: first writer wins) before the entries are acknowledged, so a crash in
between means a redelivery, never a loss; a zombie's late result changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from scaleserve.errors import StreamCancelled
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.queue.backends.redis_scripts import Scripts
from scaleserve.queue.backends.redis_wire import GROUP, MalformedEntry, StreamItem
from scaleserve.redis_keys import RedisKeys
from scaleserve.types import FailureKind, ItemResult, WorkItem

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIES = 5

_JOB_FAILURES = {
    FailureKind.MODEL: ("failed", "model_error"),
    FailureKind.INPUT: ("failed", "invalid_input"),
    FailureKind.EXPIRED: ("expired", "deadline_exceeded"),
}


@dataclass(frozen=True)
class RedisSourceSettings:
    claim_idle_s: float = 30.0
    """How long an entry may stay unacknowledged before another worker takes it over."""
    claim_every_s: float = 5.0
    max_deliveries: int = 3
    block_ms: int = 1000
    """Longest single blocking read, so stop requests and reclaims are seen in time."""
    result_ttl_s: float = 24 * 3600.0

    @classmethod
    def from_env(cls) -> RedisSourceSettings:
        """``SCALESERVE_CLAIM_IDLE_S``, ``SCALESERVE_MAX_DELIVERIES`` and
        ``SCALESERVE_JOB_RESULT_TTL_S`` override the defaults."""
        defaults = cls()
        env = os.environ
        claim_idle_s = float(env.get("SCALESERVE_CLAIM_IDLE_S", defaults.claim_idle_s))
        return cls(
            claim_idle_s=claim_idle_s,
            claim_every_s=min(defaults.claim_every_s, claim_idle_s / 2),
            max_deliveries=int(env.get("SCALESERVE_MAX_DELIVERIES", defaults.max_deliveries)),
            result_ttl_s=float(env.get("SCALESERVE_JOB_RESULT_TTL_S", defaults.result_ttl_s)),
        )


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class RedisWorkSource:
    """See ``scaleserve.queue.broker.WorkSource``."""

    def __init__(
        self,
        redis: Redis,
        spec: ModelSpec,
        keys: RedisKeys | None = None,
        settings: RedisSourceSettings | None = None,
        consumer: str | None = None,
    ) -> None:
        self._redis = redis
        self._spec = spec
        self._keys = keys or RedisKeys()
        self._settings = settings or RedisSourceSettings()
        self.consumer = consumer or consumer_name()
        self._scripts = Scripts.register(redis)
        self._stream = self._keys.stream(spec.name)
        self._ids = itertools.count(1)
        self._held: dict[int, StreamItem] = {}
        self._suspects: deque[WorkItem] = deque()
        self._next_claim = 0.0
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    async def start(self) -> None:
        await redis_wire.ensure_group(self._redis, self._stream)

    def request_stop(self) -> None:
        self._closing = True

    async def close(self) -> None:
        await self._redis.zrem(self._keys.workers(self._spec.name), self.consumer)

    async def read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        return await self._retrying(self._read, max_items, timeout_s)

    async def reply(self, results: list[ItemResult]) -> None:
        # safe to repeat: job results are first-writer-wins and an entry is acknowledged once
        await self._retrying(self._reply, results)

    async def _retrying(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Ride out a brief Redis failure (or a timeout after this process was paused);
        give up after ``RETRIES`` so the supervisor restarts a worker cut off for good."""
        for attempt in range(RETRIES):
            try:
                return await operation(*args)
            except REDIS_ERRORS as exc:
                if attempt == RETRIES - 1:
                    raise
                log.warning("Redis call failed (%r); retrying", exc)
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    async def _read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        give_up_at = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._closing:
            if self._suspects:
                return [self._suspects.popleft()]
            await self._reclaim_if_due()
            if self._suspects:
                continue
            items = await self._read_new(max_items, self._block_ms(give_up_at))
            if items:
                return items
            if give_up_at is not None and time.monotonic() >= give_up_at:
                return []
        return []

    async def _reply(self, results: list[ItemResult]) -> None:
        now = time.time()
        entry_ids: list[str] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for result in results:
                item = self._held[result.id]
                entry_ids.append(item.entry_id)
                await self._record(pipe, item, result, now)
            await self._ack(pipe, entry_ids)
            await pipe.execute()
        for result in results:
            del self._held[result.id]

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        item = self._held[item_id]
        if item.reply_to is None or item.item_id is None:
            raise MalformedEntry(f"entry {item.entry_id} is not a streamed request")
        chunk: dict[Any, Any] = redis_wire.chunk_fields(item.item_id, data)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(item.reply_to, chunk, maxlen=100_000, approximate=True)
            pipe.exists(self._keys.stream_cancelled(item.reply_to, item.item_id))
            _, cancelled = await pipe.execute()
        if cancelled:
            raise StreamCancelled(item_id)

    def _block_ms(self, give_up_at: float | None) -> int | None:
        if give_up_at is None:
            return self._settings.block_ms
        remaining_ms = int((give_up_at - time.monotonic()) * 1000)
        # BLOCK 0 would wait forever: a spent wait is a plain non-blocking read
        return min(remaining_ms, self._settings.block_ms) if remaining_ms > 0 else None

    async def _read_new(self, max_items: int, block_ms: int | None) -> list[WorkItem]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._keys.workers(self._spec.name), {self.consumer: time.time()})
            pipe.xreadgroup(
                GROUP, self.consumer, {self._stream: ">"}, count=max_items, block=block_ms
            )
            _, answer = await pipe.execute()
        read = cast(redis_wire.StreamRead, answer or [])
        entries = [entry for _, stream_entries in read for entry in stream_entries]
        return await self._admit(entries, deliveries=1)

    async def _reclaim_if_due(self) -> None:
        """Take over one abandoned entry, if any is due, and look for the next at once.

        One at a time: a worker holding several suspects that dies on the first (a poison
        item) would raise the delivery count of all of them without having run them.
        """
        now = time.monotonic()
        if now < self._next_claim:
            return
        _, claimed, _ = await self._redis.xautoclaim(
            self._stream,
            GROUP,
            self.consumer,
            min_idle_time=int(self._settings.claim_idle_s * 1000),
            start_id="0-0",
            count=1,
        )
        self._next_claim = now if claimed else now + self._settings.claim_every_s
        for entry_id, fields in claimed:
            deliveries = await self._deliveries(entry_id)
            if deliveries > self._settings.max_deliveries:
                await self._dead_letter(entry_id, fields, deliveries)
                continue
            log.warning(
                "took over entry %s of %r (delivery %d)", entry_id, self._spec.name, deliveries
            )
            self._suspects.extend(await self._admit([(entry_id, fields)], deliveries))

    async def _deliveries(self, entry_id: bytes) -> int:
        pending = await self._redis.xpending_range(self._stream, GROUP, entry_id, entry_id, 1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _admit(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], deliveries: int
    ) -> list[WorkItem]:
        """Work items for the entries worth running; the others are acknowledged and dropped."""
        parsed: list[StreamItem] = []
        for entry_id, fields in entries:
            try:
                parsed.append(redis_wire.parse_item(entry_id, fields))
            except MalformedEntry as exc:
                log.error("malformed entry on %s: %s", self._stream, exc)  # noqa: TRY400 - no traceback to show
                await self._dead_letter(entry_id, fields, deliveries, reason=str(exc))
        runnable = await self._start_jobs([i for i in parsed if i.job_id is not None], deliveries)
        items: list[WorkItem] = []
        for item in parsed:
            if item.job_id is not None and item.job_id not in runnable:
                async with self._redis.pipeline(transaction=False) as pipe:
                    await self._ack(pipe, [item.entry_id])
                    await pipe.execute()
                continue
            local_id = next(self._ids)
            self._held[local_id] = item
            items.append(
                WorkItem(
                    local_id, item.payload, item.deadline, item.enqueued_at, stream=item.stream
                )
            )
        return items

    async def _start_jobs(self, items: list[StreamItem], deliveries: int) -> set[str]:
        """Mark the items' jobs running; the ids of the jobs that should run."""
        if not items:
            return set()
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in items:
                job_id = item.job_id or ""
                await self._scripts.start_job(
                    keys=[self._keys.job(job_id), self._keys.job_events(job_id)],
                    args=[now, deliveries],
                    client=pipe,
                )
            statuses = await pipe.execute()
        return {
            item.job_id
            for item, status in zip(items, statuses, strict=True)
            if item.job_id is not None and _text(status) == "running"
        }

    async def _record(
        self, pipe: Pipeline, item: StreamItem, result: ItemResult, now: float
    ) -> None:
        if item.job_id is None or item.index is None:
            if item.reply_to is None or item.item_id is None:
                raise MalformedEntry(f"entry {item.entry_id} names neither a job nor a gateway")
            fields: dict[Any, Any] = redis_wire.reply_fields(result, item.item_id)
            pipe.xadd(item.reply_to, fields, maxlen=100_000, approximate=True)
            return
        if result.output is not None:
            kind, value, code = "ok", result.output, ""
        else:
            kind, code = _JOB_FAILURES[result.failure or FailureKind.MODEL]
            value = (result.error or "").encode()
        await self._scripts.record_item(
            keys=self._job_keys(item.job_id),
            args=[item.index, kind, value, code, now, self._settings.result_ttl_s, item.job_id],
            client=pipe,
        )

    async def _dead_letter(
        self,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        deliveries: int,
        reason: str | None = None,
    ) -> None:
        """Park the entry in the dead-letter stream and fail whoever waits on it."""
        why = reason or f"delivered {deliveries} times; its worker died or stalled each time"
        log.error("dead-lettering entry %s of %r: %s", entry_id, self._spec.name, why)
        failure = ItemResult(0, failure=FailureKind.MODEL, error=why)
        async with self._redis.pipeline(transaction=False) as pipe:
            parked: dict[Any, Any] = {**fields, b"reason": why.encode(), b"entry": entry_id}
            pipe.xadd(self._keys.dead_letters(self._spec.name), parked)
            with contextlib.suppress(MalformedEntry):
                item = redis_wire.parse_item(entry_id, fields)
                await self._record(pipe, item, failure, time.time())
            await self._ack(pipe, [_text(entry_id)])
            await pipe.execute()

    async def _ack(self, pipe: Pipeline, entry_ids: list[str]) -> None:
        if entry_ids:
            await self._scripts.ack(
                keys=[self._stream, self._keys.depth(self._spec.name)],
                args=[GROUP, *entry_ids],
                client=pipe,
            )

    def _job_keys(self, job_id: str) -> list[str]:
        k = self._keys
        return [k.job(job_id), k.job_outputs(job_id), k.job_events(job_id), k.webhooks()]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
