"""Gateway side of the Redis queue: items go onto each model's stream, results come back on
this gateway's own reply stream.

Any number of gateways share the streams, so workers form batches across all of them.
Admission (the model's bound) and queueing are one Lua step. When Redis cannot be reached,
``submit`` fails at once with ``QueueUnavailable`` (503) and works again by itself once
Redis is back.

Items are queued, and replies read, over ``RedisLink``s (the hot path); the rest (stats,
setup) goes through the redis-py client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Iterable
from typing import cast

from redis.asyncio import Redis

from scaleserve.background import stop_tasks
from scaleserve.errors import Overloaded, ServingError, UnknownModel
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import tracing
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS, unavailable
from scaleserve.queue.backends.redis_link import RedisLink, stream_read
from scaleserve.queue.backends.redis_scripts import SCRIPTS
from scaleserve.queue.pending import PendingTable
from scaleserve.redis_keys import RedisKeys

log = logging.getLogger(__name__)

REPLY_BLOCK_MS = 1000
REPLY_STREAM_MAXLEN = 100_000
STATS_INTERVAL_S = 1.0
WORKER_FRESH_S = 30.0


class RedisBroker:
    """See ``scaleserve.queue.broker.Broker``."""

    def __init__(
        self, redis: Redis, specs: Iterable[ModelSpec], keys: RedisKeys | None = None
    ) -> None:
        self._redis = redis
        self._link = RedisLink.like(redis)
        self._reply_link = RedisLink.like(redis)  # its blocking reads hold a connection
        self._keys = keys or RedisKeys()
        self._specs = {spec.queue_name: spec for spec in specs}
        self._pending = PendingTable()
        self.gateway_id = secrets.token_hex(8)
        self._reply_key = self._keys.replies(self.gateway_id)
        self._stats: dict[str, dict[str, int]] = {m: {} for m in self._specs}
        self._failures: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for model in self._specs:
            await redis_wire.ensure_group(self._redis, self._keys.stream(model))
        await SCRIPTS.load(self._redis)
        self._tasks = [
            asyncio.create_task(self._listen_for_replies()),
            asyncio.create_task(self._refresh_stats()),
        ]

    async def add_lane(self, spec: ModelSpec) -> None:
        """Queue into ``spec``'s own stream too (one version of a registry model)."""
        name = spec.queue_name
        if name not in self._specs:
            await redis_wire.ensure_group(self._redis, self._keys.stream(name))
            self._specs[name] = spec
            self._stats[name] = {}

    def remove_lane(self, name: str) -> None:
        """Stop queueing into a lane (its stream stays, for workers finishing what it holds)."""
        self._specs.pop(name, None)
        self._stats.pop(name, None)

    async def close(self) -> None:
        await stop_tasks(self._tasks)
        await self._reply_link.close()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._link.execute_command("DEL", self._reply_key)
        await self._link.close()

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        spec = self._spec(model)
        request = self._pending.open(model, len(payloads))
        now = time.time()
        deadline = now + timeout_s
        span = tracing.start_producer(model, len(payloads))
        trace = tracing.traceparent(span)
        fields = [
            redis_wire.sync_item_fields(p, deadline, now, self._reply_key, item_id, trace=trace)
            for p, item_id in zip(payloads, request.item_ids, strict=True)
        ]
        try:
            await self._enqueue(spec, fields)
        except ServingError:
            self._pending.forget(request)
            raise
        finally:
            tracing.end(span)
        return await request.wait(timeout_s)

    async def stream(
        self, model: str, payload: bytes, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        spec = self._spec(model)
        stream = self._pending.open_stream(model, timeout_s)
        now = time.time()
        span = tracing.start_producer(model, 1)
        fields = redis_wire.sync_item_fields(
            payload, now + timeout_s, now, self._reply_key, stream.item_id, stream=True,
            trace=tracing.traceparent(span),
        )  # fmt: skip
        try:
            await self._enqueue(spec, [fields])
        except ServingError:
            stream.close()
            raise
        finally:
            tracing.end(span)
        try:
            while (chunk := await stream.next()) is not None:
                yield chunk
        finally:
            stream.close()
            if not stream.answered:
                await self._cancel(stream.item_id, timeout_s)

    async def _enqueue(self, spec: ModelSpec, items: list[redis_wire.Fields]) -> None:
        """Admit and queue ``items`` in one Lua step: ``QueueUnavailable`` when Redis cannot
        be reached, ``Overloaded`` (nothing queued) when the model's bound would be passed."""
        try:
            ids = await SCRIPTS.enqueue(
                self._link,
                [self._keys.stream(spec.queue_name), self._keys.depth(spec.queue_name)],
                [spec.max_queue_items, len(items), len(items[0]), *redis_wire.flatten(items)],
            )
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        if ids == -1:
            raise Overloaded(spec.name, spec.max_queue_items)

    def depth(self, model: str) -> int:
        return self._stat(model, "depth")

    def queued(self, model: str) -> int:
        return self._stat(model, "queued")

    def ready_workers(self, model: str) -> int:
        return self._stat(model, "workers")

    def lane_failure(self, lane: str) -> str | None:
        """Why the workers of a lane cannot load, as the last of them to fail said."""
        return self._failures.get(lane)

    async def _cancel(self, item_id: int, timeout_s: float) -> None:
        """Tell whichever worker runs the streamed item that nobody reads it any more."""
        key = self._keys.stream_cancelled(self._reply_key, item_id)
        with contextlib.suppress(*REDIS_ERRORS):
            await self._redis.set(key, 1, ex=max(1, int(timeout_s) + 1))

    def _spec(self, model: str) -> ModelSpec:
        try:
            return self._specs[model]
        except KeyError:
            raise UnknownModel(model) from None

    def _stat(self, model: str, name: str) -> int:
        self._spec(model)
        return self._stats[model].get(name, 0)

    async def _listen_for_replies(self) -> None:
        read = ("XREAD", "BLOCK", REPLY_BLOCK_MS, "STREAMS", self._reply_key)
        block_s = REPLY_BLOCK_MS / 1000
        # From the start of this gateway's own (new) stream, then from the last entry read:
        # never "$", which would miss a reply written before the first read or between a
        # read that timed out and the next one.
        last_id = "0-0"
        while True:
            try:
                answer = await self._reply_link.execute_command(*read, last_id, block_s=block_s)
            except REDIS_ERRORS as exc:
                log.warning("reading replies failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            for _, entries in stream_read(answer):
                for entry_id, fields in entries:
                    last_id = entry_id.decode()
                    if b"c" in fields:
                        self._pending.push_chunk(int(fields[b"i"]), fields[b"c"])
                    else:
                        self._pending.resolve(redis_wire.parse_reply(fields))
            # let the requests just answered go out before this reads again
            await asyncio.sleep(0)

    async def _refresh_stats(self) -> None:
        """Queue depth and live workers for ``/metrics`` and ``/readyz``, read once a second."""
        while True:
            with contextlib.suppress(*REDIS_ERRORS):
                for model in list(self._specs):
                    stats = await self._read_stats(model)
                    if model in self._specs:  # not removed meanwhile
                        self._stats[model] = stats
                await self._read_failures()
            await asyncio.sleep(STATS_INTERVAL_S)

    async def _read_failures(self) -> None:
        lanes = [name for name, spec in self._specs.items() if spec.lane]
        if not lanes:
            return
        keys = [self._keys.lane_failure(lane) for lane in lanes]
        found = cast(list[bytes | None], await self._redis.mget(keys))
        self._failures = {
            lane: why.decode(errors="replace")
            for lane, why in zip(lanes, found, strict=True)
            if why is not None
        }

    async def _read_stats(self, model: str) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys.depth(model))
            pipe.xinfo_groups(self._keys.stream(model))
            pipe.zcount(self._keys.workers(model), time.time() - WORKER_FRESH_S, "+inf")
            depth, groups, workers = await pipe.execute()
        lag = next((g.get("lag") for g in groups if g["name"] == redis_wire.GROUP), 0)
        return {"depth": int(depth or 0), "queued": int(lag or 0), "workers": int(workers)}
