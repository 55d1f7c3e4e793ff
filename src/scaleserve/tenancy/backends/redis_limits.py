"""Admission shared by every gateway: one Lua script (``lua/admit.lua``) per request checks
and consumes a tenant's buckets, daily counts and concurrency slot atomically, timed by
Redis's own clock."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from scaleserve.background import reraise_if_cancelled, stop_task
from scaleserve.errors import ConfigError, QueueUnavailable, QuotaExceeded, RateLimited
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy.limits import (
    DAY_S,
    Admission,
    Permit,
    capacity,
    refuse_impossible,
    utc_day,
)
from scaleserve.tenancy.records import Limits

log = logging.getLogger(__name__)

_QUOTAS = frozenset({"daily_requests", "daily_items"})


def _script_source(name: str) -> str:
    return (resources.files("scaleserve.tenancy.backends") / "lua" / name).read_text()


class RedisAdmission(Admission):
    """Admission over a Redis shared by all gateways.

    A concurrency slot is a lease that expires ``lease_s`` after admission, so a gateway
    that dies holding slots cannot keep them forever. While its request runs, the gateway
    renews it every third of ``lease_s`` (one pipeline for all the leases it holds), so a
    long request (a stream) keeps counting against the cap. ``wall_clock`` only names the
    candidate daily-count keys; Redis's clock chooses among them.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        lease_s: float = 300.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_s <= 0:
            raise ConfigError(f"a concurrency lease lasts more than 0 s, not {lease_s}")
        self._redis = redis
        self._keys = keys
        self._lease_s = lease_s
        self._wall_clock = wall_clock
        self._admit: Any = redis.register_script(_script_source("admit.lua"))
        self._held: dict[str, set[str]] = {}  # tenant -> leases this gateway holds
        self._renewer: asyncio.Task[None] | None = None

    def renewing(self) -> bool:
        """Whether leases are being renewed (some are held here)."""
        return self._renewer is not None

    async def close(self) -> None:
        """Stop renewing: the leases still held expire by themselves."""
        await stop_task(self._renewer)
        self._renewer = None

    async def admit(self, tenant: str, limits: Limits, items: int) -> Permit:
        if limits.unlimited:
            return Permit(tenant, None)
        refuse_impossible(limits, items)
        lease = uuid.uuid4().hex if limits.max_concurrent is not None else None
        yesterday_s = (math.floor(self._wall_clock() / DAY_S) - 1) * DAY_S
        keys = self._script_keys(tenant, yesterday_s)
        args = self._script_args(limits, items, lease, yesterday_s)
        try:
            reply = await self._admit(keys=keys, args=args)
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        _raise_refusal(reply)
        if lease is not None:
            self._held.setdefault(tenant, set()).add(lease)
            if self._renewer is None:
                self._renewer = asyncio.create_task(self._renew_forever())
        return Permit(tenant, lease)

    async def release(self, permit: Permit) -> None:
        """Give the slot back; if Redis cannot be reached, the lease expires by itself."""
        if permit.lease is None:
            return
        leases = self._held.get(permit.tenant, set())
        leases.discard(permit.lease)
        if not leases:
            self._held.pop(permit.tenant, None)
        if not self._held and self._renewer is not None:
            self._renewer.cancel()  # nothing left to renew
            self._renewer = None
        try:
            await self._redis.zrem(self._keys.in_flight(permit.tenant), permit.lease)
        except REDIS_ERRORS as exc:
            log.warning(
                "could not release a concurrency slot of tenant %r (%s); it frees itself "
                "when its lease expires",
                permit.tenant,
                type(exc).__name__,
            )

    async def _renew_forever(self) -> None:
        """Renew while this gateway holds leases; end when it holds none (the next leased
        admission starts it again)."""
        task = asyncio.current_task()
        while self._held:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self._renew()
            except REDIS_ERRORS as exc:
                reraise_if_cancelled(exc)  # redis-py may turn a cancellation into its own error
                log.warning("could not renew concurrency leases (%s); retrying", exc)
        if self._renewer is task:
            self._renewer = None

    async def _renew(self) -> None:
        """Push the expiry of every lease held here to ``lease_s`` from now (Redis's clock);
        ``XX``: a lease released (or expired and dropped) meanwhile is not brought back."""
        held = {tenant: list(leases) for tenant, leases in self._held.items() if leases}
        if not held:
            return
        seconds, micros = await self._redis.time()
        expires = seconds + micros / 1e6 + self._lease_s
        async with self._redis.pipeline(transaction=False) as pipe:
            for tenant, leases in held.items():
                pipe.zadd(self._keys.in_flight(tenant), dict.fromkeys(leases, expires), xx=True)
            await pipe.execute()

    def _script_keys(self, tenant: str, yesterday_s: int) -> list[str]:
        """The tenant's keys; daily counts of the UTC days around ``yesterday_s`` + 1 day."""
        days = [utc_day(yesterday_s + k * DAY_S) for k in range(3)]
        return [
            self._keys.rate_buckets(tenant),
            self._keys.in_flight(tenant),
            *(self._keys.daily_counts(tenant, day) for day in days),
        ]

    def _script_args(
        self, limits: Limits, items: int, lease: str | None, yesterday_s: int
    ) -> list[str]:
        def opt(value: float | None) -> str:
            return "" if value is None else repr(value)

        requests, items_s = limits.requests_per_s, limits.items_per_s
        return [
            opt(requests),
            opt(None if requests is None else capacity(requests, limits.requests_burst)),
            opt(items_s),
            opt(None if items_s is None else capacity(items_s, limits.items_burst)),
            str(items),
            opt(limits.daily_requests),
            opt(limits.daily_items),
            str(yesterday_s),
            opt(limits.max_concurrent),
            lease or "",
            repr(self._lease_s),
        ]


def _raise_refusal(reply: Sequence[bytes | str]) -> None:
    limit = _text(reply[0])
    if limit == "ok":
        return
    retry_after_s = float(_text(reply[1]))
    if limit == "clock":
        log.error("this gateway's clock is more than a day away from Redis's: fix its time")
        raise QueueUnavailable("the gateway's clock disagrees with the rate limits' store")
    if limit in _QUOTAS:
        raise QuotaExceeded(limit, retry_after_s)
    raise RateLimited(limit, retry_after_s)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unavailable(exc: BaseException) -> QueueUnavailable:
    return QueueUnavailable(f"the rate limits' store (Redis) is unreachable: {type(exc).__name__}")
