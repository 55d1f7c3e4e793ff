"""Admission: a tenant's rate limits, daily quotas and concurrency cap, checked before its
work is queued.

``Admission`` is the seam: ``backends/memory_limits.py`` serves one gateway,
``backends/redis_limits.py`` every gateway sharing a Redis. The rules, the same in both:

- A request draws 1 token from the requests bucket and ``items`` tokens from the items
  bucket. A bucket holds up to its burst (default ``max(1, ceil(rate))``) and refills
  continuously at its rate; a ``*_burst`` without its ``*_per_s`` sets no bucket.
- Daily quotas count the requests and items admitted on the UTC day; they count from when
  a quota is set, and reset at 00:00 UTC.
- Checks run in the order quotas, rates, concurrency; the first to refuse is raised, and
  nothing is consumed when anything refuses.
- A request that can never pass as sent (more items than the items burst or the daily
  items quota, or a rate, burst, quota or cap of 0) is refused with ``RateLimited`` whose
  message says so and whose ``retry_after_s`` is ``NEVER_S``: only a change of the
  tenant's limits can let it in.

The token-bucket arithmetic below is pure, over times passed in, so it is tested without
sleeping; ``lua/admit.lua`` does the same arithmetic inside Redis.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from scaleserve.errors import QuotaExceeded, RateLimited
from scaleserve.tenancy.records import Limits

DAY_S = 86_400
NEVER_S = 86_400.0
"""The retry hint of a request that cannot pass under the tenant's current limits."""
CONCURRENCY_RETRY_AFTER_S = 1.0
"""The retry hint when the concurrency cap is reached: when a slot frees is unknowable."""
EPSILON = 1e-9
"""Tokens of slack, so that waiting exactly ``retry_after_s`` is enough despite rounding."""


@dataclass(frozen=True)
class Permit:
    """An admitted request; ``release`` it when the request ends."""

    tenant: str
    lease: str | None  # set when a concurrency slot was taken; release() gives it back


class Admission(Protocol):
    """Admits a tenant's requests under the limits the caller passes (the gateway caches
    tenants; limits are not stored here). Subclass it to inherit ``hold``."""

    async def admit(self, tenant: str, limits: Limits, items: int) -> Permit:
        """Admit one request of ``items`` items for ``tenant`` under ``limits``, all or nothing.

        Raises ``RateLimited`` (a requests/s or items/s bucket is empty, the concurrency cap
        is reached, or the request can never pass) or ``QuotaExceeded`` (a daily quota is
        used up), each with ``retry_after_s``: when a retry can succeed (bucket refill time;
        seconds to the next 00:00 UTC for quotas; ``CONCURRENCY_RETRY_AFTER_S`` for the
        cap). Nothing is consumed when refused. ``limits.unlimited`` touches nothing.
        Raises ``QueueUnavailable`` when a shared store cannot be reached.
        """
        ...

    async def release(self, permit: Permit) -> None:
        """End of the request: give back its concurrency slot (no-op without a lease)."""
        ...

    async def close(self) -> None:
        """Stop any background work (a shared store's lease renewals); none by default."""
        return

    @asynccontextmanager
    async def hold(self, tenant: str, limits: Limits, items: int) -> AsyncIterator[Permit]:
        """``admit`` on entry, ``release`` on exit, whatever the exit."""
        permit = await self.admit(tenant, limits, items)
        try:
            yield permit
        finally:
            await self.release(permit)


# -- token buckets -------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """The rule of one bucket: ``limit`` names it (``requests_per_s`` or ``items_per_s``)."""

    limit: str
    per_s: float
    capacity: int


@dataclass(frozen=True)
class Bucket:
    """A bucket's state: ``tokens`` at ``at_s``; it holds ``capacity`` again at ``full_at_s``."""

    tokens: float
    at_s: float
    full_at_s: float


def capacity(per_s: float, burst: int | None) -> int:
    """The bucket's size: ``burst``, or one second's worth and at least 1."""
    return burst if burst is not None else max(1, math.ceil(per_s))


def rates(limits: Limits, items: int) -> list[tuple[Rate, int]]:
    """The buckets a request of ``items`` items draws from, each with the tokens it needs."""
    drawn = []
    if limits.requests_per_s is not None:
        rule = capacity(limits.requests_per_s, limits.requests_burst)
        drawn.append((Rate("requests_per_s", limits.requests_per_s, rule), 1))
    if limits.items_per_s is not None:
        rule = capacity(limits.items_per_s, limits.items_burst)
        drawn.append((Rate("items_per_s", limits.items_per_s, rule), items))
    return drawn


def level(rate: Rate, bucket: Bucket | None, now_s: float) -> float:
    """The tokens in the bucket at ``now_s`` (a bucket never seen is full)."""
    if bucket is None:
        return float(rate.capacity)
    refilled = bucket.tokens + max(0.0, now_s - bucket.at_s) * rate.per_s
    return min(float(rate.capacity), refilled)


def wait_s(rate: Rate, tokens: float, need: int) -> float:
    """How long until a bucket holding ``tokens`` holds ``need`` (0: it does now)."""
    if tokens + EPSILON >= need:
        return 0.0
    return (need - tokens) / rate.per_s


def take(rate: Rate, tokens: float, need: int, now_s: float) -> Bucket:
    """The bucket after ``need`` tokens are taken from the ``tokens`` it holds at ``now_s``."""
    left = tokens - need
    return Bucket(left, now_s, now_s + (rate.capacity - left) / rate.per_s)


def draw(
    limits: Limits, items: int, buckets: Mapping[str, Bucket], now_s: float
) -> dict[str, Bucket]:
    """The buckets (by limit name) after the request draws from all of them at ``now_s``.

    Raises ``RateLimited`` naming the bucket that refuses longest, whose wait is when all
    of them can pass; ``buckets`` is not changed. Rates are positive (``refuse_impossible``).
    """
    after: dict[str, Bucket] = {}
    longest_s, refusing = 0.0, ""
    for rate, need in rates(limits, items):
        tokens = level(rate, buckets.get(rate.limit), now_s)
        waiting_s = wait_s(rate, tokens, need)
        if waiting_s > longest_s:
            longest_s, refusing = waiting_s, rate.limit
        after[rate.limit] = take(rate, tokens, need, now_s)
    if refusing:
        raise RateLimited(refusing, longest_s)
    return after


# -- requests that can never pass ----------------------------------------------------------
def refuse_impossible(limits: Limits, items: int) -> None:
    """Raise ``RateLimited`` (retry after ``NEVER_S``) for a request no wait can let in."""
    if items < 0:
        raise ValueError(f"a request has at least 0 items, not {items}")
    closed = _closed(limits)
    if closed is not None:
        raise RateLimited(closed, NEVER_S, f"the tenant's {closed} limit admits no request")
    for rate, need in rates(limits, items):
        if need > rate.capacity:
            raise RateLimited(rate.limit, NEVER_S, _too_large(items, "burst", rate.capacity))
    if limits.daily_items is not None and items > limits.daily_items:
        message = _too_large(items, "daily quota", limits.daily_items)
        raise RateLimited("daily_items", NEVER_S, message)


def _closed(limits: Limits) -> str | None:
    """The limit that admits no request at all (a rate, burst, quota or cap of 0), if any."""
    for rate, need in rates(limits, 0):
        if rate.per_s <= 0 or need > rate.capacity:
            return rate.limit
    if limits.daily_requests is not None and limits.daily_requests < 1:
        return "daily_requests"
    if limits.max_concurrent is not None and limits.max_concurrent < 1:
        return "max_concurrent"
    return None


def _too_large(items: int, what: str, cap: int) -> str:
    return (
        f"a request of {items} items can never pass the tenant's {what} of {cap} items: "
        "split it into smaller requests"
    )


# -- daily quotas --------------------------------------------------------------------------
def utc_day(wall_s: float) -> str:
    """The UTC day of a Unix time, ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(wall_s))


def seconds_to_midnight_utc(wall_s: float) -> float:
    """Seconds from a Unix time to the next 00:00 UTC."""
    return DAY_S - wall_s % DAY_S


def has_quota(limits: Limits) -> bool:
    return limits.daily_requests is not None or limits.daily_items is not None


def check_quotas(limits: Limits, items: int, used: tuple[int, int], wall_s: float) -> None:
    """Raise ``QuotaExceeded`` when the request would pass a daily quota, given the
    ``(requests, items)`` already ``used`` today."""
    for limit, cap, have, need in (
        ("daily_requests", limits.daily_requests, used[0], 1),
        ("daily_items", limits.daily_items, used[1], items),
    ):
        if cap is not None and have + need > cap:
            raise QuotaExceeded(limit, seconds_to_midnight_utc(wall_s))
