"""Rollout tallies shared by every gateway through Redis: each gateway counts locally and
adds its counts to one hash per model and window (``HINCRBY``) several times a second, so
the policy, wherever it runs, judges everyone's requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from redis.asyncio import Redis

from scaleserve.background import stop_task
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import RedisKeys
from scaleserve.registry.stats import LocalRolloutStats
from scaleserve.registry.window import LaneTally, WindowTally

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2
TALLY_TTL_S = 7 * 24 * 3600


class RedisRolloutStats:
    """See ``scaleserve.registry.stats.RolloutStats``."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._pending = LocalRolloutStats()
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        await stop_task(self._task)
        with contextlib.suppress(*REDIS_ERRORS):
            await self._flush()

    def record(self, model: str, window: str, lane: str, latency_s: float, *, ok: bool) -> None:
        self._pending.record(model, window, lane, latency_s, ok=ok)

    def record_agreement(self, model: str, window: str, agreed: bool) -> None:
        self._pending.record_agreement(model, window, agreed)

    async def read(self, model: str, window: str) -> WindowTally:
        await self._flush()
        key = self._keys.rollout_tally(model, window)
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(key))
        return _tally({k.decode(): int(v) for k, v in raw.items()})

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                await self._flush()
            except REDIS_ERRORS as exc:
                log.warning("could not add rollout tallies to Redis (%s); retrying", exc)

    async def _flush(self) -> None:
        async with self._flushing:
            taken = self._pending.take()
            if not taken:
                return
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for (model, window), tally in taken.items():
                        key = self._keys.rollout_tally(model, window)
                        for field, count in _fields(tally).items():
                            pipe.hincrby(key, field, count)
                        pipe.expire(key, TALLY_TTL_S)
                    await pipe.execute()
            except REDIS_ERRORS:
                self._pending.give_back(taken)  # counted next time, not lost
                raise


def _fields(tally: WindowTally) -> dict[str, int]:
    fields = {"agreed": tally.agreed, "disagreed": tally.disagreed}
    for lane, counts in tally.lanes.items():
        fields[f"{lane}|requests"] = counts.requests
        fields[f"{lane}|errors"] = counts.errors
        for index, count in counts.buckets.items():
            fields[f"{lane}|b{index}"] = count
    return {k: v for k, v in fields.items() if v}


def _tally(fields: dict[str, int]) -> WindowTally:
    tally = WindowTally(agreed=fields.pop("agreed", 0), disagreed=fields.pop("disagreed", 0))
    for field, count in fields.items():
        lane, _, what = field.rpartition("|")
        counts: LaneTally = tally.lane(lane)
        if what == "requests":
            counts.requests += count
        elif what == "errors":
            counts.errors += count
        elif what.startswith("b") and what[1:].isdigit():
            index = int(what[1:])
            counts.buckets[index] = counts.buckets.get(index, 0) + count
    return tally
