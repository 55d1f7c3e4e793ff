"""Worker side of the Redis queue.

A worker reads new entries of its model's stream through the consumer group, and every
``claim_every_s`` takes over entries another worker has held for ``claim_idle_s`` without
acknowledging them (it died or stalled). Such entries are suspects: they are taken over
and run one at a time, so a poison item cannot take healthy ones down with it again, and
an entry delivered more than ``max_deliveries`` times goes to the dead-letter stream and
fails. Results are
recorded (job items: first writer wins) in the same Lua step that acknowledges the
entries, so a crash means a redelivery, never a loss; a zombie's late result changes
nothing. Each batch costs three round trips to Redis: read, start its jobs, and one
pipeline with the replies to gateways and that finishing step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis

from scaleserve.errors import StreamCancelled
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.queue.backends.redis_link import Command, RedisLink, stream_read
from scaleserve.queue.backends.redis_scripts import SCRIPTS, run
from scaleserve.queue.backends.redis_wire import GROUP, MalformedEntry, StreamItem
from scaleserve.redis_keys import RedisKeys
from scaleserve.types import FailureKind, ItemResult, WorkItem

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRIES = 5
BEAT_EVERY_S = 1.0
"""How often a worker renews its entry among the model's live workers (read by gateways
for readiness; an entry older than ``redis_broker.WORKER_FRESH_S`` no longer counts)."""
REPLY_MAXLEN = 100_000

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
        self._link = RedisLink.like(redis)  # reads, replies and job steps: the hot path
        self._spec = spec
        self._keys = keys or RedisKeys()
        self._settings = settings or RedisSourceSettings()
        self.consumer = consumer or consumer_name()
        self._stream = self._keys.stream(spec.queue_name)
        self._ids = itertools.count(1)
        self._held: dict[int, StreamItem] = {}
        self._suspects: deque[WorkItem] = deque()
        self._next_claim = 0.0
        self._next_beat = 0.0
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    async def start(self) -> None:
        await redis_wire.ensure_group(self._redis, self._stream)
        await SCRIPTS.load(self._link)

    def request_stop(self) -> None:
        self._closing = True

    async def close(self) -> None:
        """Close the connection; what this worker holds stays pending, for a takeover."""
        try:
            await self._redis.zrem(self._keys.workers(self._spec.queue_name), self.consumer)
        finally:
            await self._link.close()

    async def leave(self) -> None:
        """Stop for good: hand back what was read and not run (taken-over suspects) for
        another worker to read at once, then close."""
        try:
            await self.hand_back(self.held_entries())
        finally:
            await self.close()

    @property
    def stream(self) -> str:
        return self._stream

    def held_entries(self) -> list[str]:
        """Entries read and not yet answered (what a worker stopping now would leave)."""
        return [item.entry_id for item in self._held.values()]

    async def hand_back(self, entry_ids: list[str]) -> int:
        """Give ``entry_ids`` back to the stream for another worker to read now; how many."""
        if not entry_ids:
            return 0
        for entry_id in entry_ids:
            self._held = {k: v for k, v in self._held.items() if v.entry_id != entry_id}
        self._suspects.clear()
        handed = await SCRIPTS.hand_back(self._link, [self._stream], [GROUP, *entry_ids])
        log.info("handed %d entries of %r back to the queue", handed, self._spec.queue_name)
        return int(handed)

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
        held = [(self._held[result.id], result) for result in results]
        # replies first: the gateways waiting on them wake while the rest runs
        commands = [_reply_command(item, result) for item, result in held if item.job_id is None]
        jobs = [(item, result) for item, result in held if item.job_id is not None]
        commands.append(self._finish(jobs, [item.entry_id for item, _ in held]))
        await run(self._link, commands)
        for result in results:
            del self._held[result.id]

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        item = self._held[item_id]
        if item.reply_to is None or item.item_id is None:
            raise MalformedEntry(f"entry {item.entry_id} is not a streamed request")
        chunk = _xadd(item.reply_to, redis_wire.chunk_fields(item.item_id, data))
        cancelled_key = self._keys.stream_cancelled(item.reply_to, item.item_id)
        _, cancelled = await run(self._link, [chunk, ("EXISTS", cancelled_key)])
        if cancelled:
            raise StreamCancelled(item_id)

    def _block_ms(self, give_up_at: float | None) -> int | None:
        if give_up_at is None:
            return self._settings.block_ms
        remaining_ms = int((give_up_at - time.monotonic()) * 1000)
        # BLOCK 0 would wait forever: a spent wait is a plain non-blocking read
        return min(remaining_ms, self._settings.block_ms) if remaining_ms > 0 else None

    async def _read_new(self, max_items: int, block_ms: int | None) -> list[WorkItem]:
        block = ("BLOCK", block_ms) if block_ms is not None else ()
        read: Command = ("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", max_items, *block,
                         "STREAMS", self._stream, ">")  # fmt: skip
        commands = [read]
        if time.monotonic() >= self._next_beat:  # "alive", at most once per BEAT_EVERY_S
            self._next_beat = time.monotonic() + BEAT_EVERY_S
            beat = ("ZADD", self._keys.workers(self._spec.queue_name), time.time(), self.consumer)
            commands.insert(0, beat)
        *_, answer = await run(self._link, commands, block_s=(block_ms or 0) / 1000)
        entries = [entry for _, stream_entries in stream_read(answer) for entry in stream_entries]
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
        runnable = await self._start_jobs(parsed, deliveries)
        skipped: list[str] = []
        items: list[WorkItem] = []
        for item, started in zip(parsed, runnable, strict=True):
            if started is None:
                skipped.append(item.entry_id)
                continue
            local_id = next(self._ids)
            self._held[local_id] = started
            items.append(
                WorkItem(
                    local_id,
                    item.payload,
                    item.deadline,
                    item.enqueued_at,
                    stream=item.stream,
                    trace=item.trace,
                )
            )
        if skipped:
            await run(self._link, [self._finish([], skipped)])
        return items

    async def _start_jobs(
        self, items: list[StreamItem], deliveries: int
    ) -> list[StreamItem | None]:
        """Mark the jobs of the job items running, all in one Lua step. Per item: the item
        (a job item with its job's tenant), or ``None`` when its job must not run."""
        jobs = [item.job_id for item in items if item.job_id is not None]
        if not jobs:
            return list(items)
        keys = [
            self._keys.job_changes(),
            *(
                key
                for job_id in jobs
                for key in (self._keys.job(job_id), self._keys.job_events(job_id))
            ),
        ]
        answers = iter(await SCRIPTS.start_jobs(self._link, keys, [time.time(), deliveries]))
        started: list[StreamItem | None] = []
        for item in items:
            if item.job_id is None:
                started.append(item)
                continue
            status, tenant = next(answers)
            running = _text(status) == "running"
            started.append(
                dataclasses.replace(item, tenant=_text(tenant) or None) if running else None
            )
        return started

    def _finish(self, jobs: list[tuple[StreamItem, ItemResult]], entry_ids: list[str]) -> Command:
        """The Lua step that records the job items' outcomes (and their compute seconds as
        their tenants' usage) and acknowledges ``entry_ids``."""
        now = time.time()
        tenants = sorted({item.tenant for item, _ in jobs if item.tenant})
        keys = [
            self._stream,
            self._keys.depth(self._spec.queue_name),
            self._keys.webhooks(),
            self._keys.job_changes(),
            self._keys.ended_jobs(),
            *(self._keys.usage(tenant) for tenant in tenants),
        ]
        args: list[Any] = [
            GROUP,
            now,
            self._settings.result_ttl_s,
            self._spec.name,
            len(tenants),
            len(jobs),
        ]
        for item, result in jobs:
            job_id = item.job_id or ""
            keys += [
                self._keys.job(job_id),
                self._keys.job_outputs(job_id),
                self._keys.job_events(job_id),
            ]
            args += [item.index or 0, *_outcome(result), job_id, repr(result.compute_s)]
            args.append(tenants.index(item.tenant) + 1 if item.tenant else 0)
        return SCRIPTS.finish_items.command(keys, [*args, *entry_ids])

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
        parked: dict[Any, Any] = {**fields, b"reason": why.encode(), b"entry": entry_id}
        commands = [_xadd(self._keys.dead_letters(self._spec.queue_name), parked, maxlen=None)]
        jobs: list[tuple[StreamItem, ItemResult]] = []
        with contextlib.suppress(MalformedEntry):
            item = redis_wire.parse_item(entry_id, fields)
            if item.job_id is None:
                commands.append(_reply_command(item, failure))
            else:
                jobs.append((item, failure))
        commands.append(self._finish(jobs, [_text(entry_id)]))
        await run(self._link, commands)


def _reply_command(item: StreamItem, result: ItemResult) -> Command:
    """The reply to the gateway waiting on a (not job) item."""
    if item.reply_to is None or item.item_id is None:
        raise MalformedEntry(f"entry {item.entry_id} names neither a job nor a gateway")
    return _xadd(item.reply_to, redis_wire.reply_fields(result, item.item_id))


def _xadd(stream: str, fields: dict[Any, Any], maxlen: int | None = REPLY_MAXLEN) -> Command:
    trim = ("MAXLEN", "~", maxlen) if maxlen is not None else ()
    return ("XADD", stream, *trim, "*", *(part for pair in fields.items() for part in pair))


def _outcome(result: ItemResult) -> tuple[str, bytes, str]:
    """How ``finish_items.lua`` takes an item's outcome: kind, output or message, code."""
    if result.output is not None:
        return "ok", result.output, ""
    kind, code = _JOB_FAILURES[result.failure or FailureKind.MODEL]
    return kind, (result.error or "").encode(), code


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
