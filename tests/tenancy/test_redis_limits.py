"""Admission over the real Redis: leases that expire, keys that expire, Redis's clock, one
limit shared by several gateways, and a Redis that cannot be reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from scaleserve.errors import QueueUnavailable, QuotaExceeded, RateLimited
from scaleserve.queue.backends.redis_connection import connect
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy.backends.redis_limits import RedisAdmission
from scaleserve.tenancy.limits import DAY_S, Permit, utc_day
from scaleserve.tenancy.records import Limits

SLOW = 0.001
DEAD_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def redis_now_s(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1e6


def skewed_clock(skew_s: float) -> Callable[[], float]:
    """A gateway's wall clock, ``skew_s`` away from the true time."""
    return lambda: time.time() + skew_s


async def snapshot(redis: Redis, keys: RedisKeys) -> dict[bytes, bytes | None]:
    names = sorted([key async for key in redis.scan_iter(match=f"{keys.prefix}:*")])
    return {name: await redis.dump(name) for name in names}


async def test_an_expired_lease_frees_its_slot(redis: Redis, redis_keys: RedisKeys) -> None:
    dying = RedisAdmission(redis, redis_keys, lease_s=0.2)
    limits = Limits(max_concurrent=1)
    await dying.admit("acme", limits, 1)
    await dying.close()  # its gateway dies without releasing the slot: no more renewals
    admission = RedisAdmission(redis, redis_keys, lease_s=0.2)
    with pytest.raises(RateLimited):
        await admission.admit("acme", limits, 1)
    await asyncio.sleep(0.25)  # Redis's own clock expires the lease; it cannot be injected
    permit = await admission.admit("acme", limits, 1)
    assert permit.lease is not None
    assert await redis.zrange(redis_keys.in_flight("acme"), 0, -1) == [permit.lease.encode()]
    await admission.release(permit)
    assert admission.renewing() is False  # nothing held: no background task left


async def test_a_held_lease_is_renewed_past_its_length(redis: Redis, redis_keys: RedisKeys) -> None:
    admission = RedisAdmission(redis, redis_keys, lease_s=0.3)
    other = RedisAdmission(redis, redis_keys, lease_s=0.3)
    limits = Limits(max_concurrent=1)
    try:
        long_request = await admission.admit("acme", limits, 1)  # a stream that runs long
        await asyncio.sleep(1.0)  # over three lease lengths: Redis's clock cannot be injected
        with pytest.raises(RateLimited):
            await other.admit("acme", limits, 1)  # the slot still counts
        await admission.release(long_request)
        assert (await other.admit("acme", limits, 1)).lease is not None
        assert admission.renewing() is False
    finally:
        await admission.close()
        await other.close()


async def test_gateways_share_one_limit(redis: Redis, redis_keys: RedisKeys) -> None:
    gateways = [RedisAdmission(redis, redis_keys) for _ in range(3)]
    limits = Limits(requests_per_s=SLOW, requests_burst=4, max_concurrent=10)
    for k in range(4):
        await gateways[k % 3].admit("acme", limits, 1)
    for gateway in gateways:
        with pytest.raises(RateLimited):
            await gateway.admit("acme", limits, 1)
        await gateway.close()


async def test_a_refusal_writes_nothing(redis: Redis, redis_keys: RedisKeys) -> None:
    admission = RedisAdmission(redis, redis_keys)
    limits = Limits(
        requests_per_s=SLOW, requests_burst=5, items_per_s=SLOW, daily_items=10, max_concurrent=1
    )
    await admission.admit("acme", limits, 1)
    before = await snapshot(redis, redis_keys)
    assert len(before) == 3  # buckets, the day's counts, the slots in flight
    for items in (0, 9):  # over the cap; over the daily quota
        with pytest.raises(RateLimited):
            await admission.admit("acme", limits, items)
    assert await snapshot(redis, redis_keys) == before
    await admission.close()


async def test_keys_expire_when_forgetting_them_changes_nothing(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    admission = RedisAdmission(redis, redis_keys, lease_s=30)
    limits = Limits(requests_per_s=10, requests_burst=20, daily_requests=5, max_concurrent=2)
    await admission.admit("acme", limits, 1)
    day = utc_day(await redis_now_s(redis))
    buckets_ms = await redis.pttl(redis_keys.rate_buckets("acme"))
    day_s = await redis.ttl(redis_keys.daily_counts("acme", day))
    in_flight_ms = await redis.pttl(redis_keys.in_flight("acme"))
    assert 100 <= buckets_ms <= 1200  # full again 0.1 s later, plus a second of slack
    assert DAY_S < day_s <= 2 * DAY_S
    assert 30_000 <= in_flight_ms <= 31_100  # the last lease ends, plus a second of slack
    await admission.close()


async def test_redis_clock_picks_the_day(redis: Redis, redis_keys: RedisKeys) -> None:
    limits = Limits(daily_requests=2)
    day = utc_day(await redis_now_s(redis))
    await redis.hset(redis_keys.daily_counts("acme", utc_day(time.time() - DAY_S)), "requests", 9)
    for skew_s in (-20 * 3600, 20 * 3600):  # gateway clocks off by most of a day
        skewed = RedisAdmission(redis, redis_keys, wall_clock=skewed_clock(skew_s))
        await skewed.admit("acme", limits, 1)
    assert await redis.hget(redis_keys.daily_counts("acme", day), "requests") == b"2"
    with pytest.raises(QuotaExceeded):
        await RedisAdmission(redis, redis_keys).admit("acme", limits, 1)


async def test_a_gateway_clock_days_off_is_refused_clearly(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    skewed = RedisAdmission(redis, redis_keys, wall_clock=skewed_clock(-3 * DAY_S))
    with pytest.raises(QueueUnavailable, match="clock"):
        await skewed.admit("acme", Limits(daily_items=10), 1)
    await skewed.admit("acme", Limits(requests_per_s=10), 1)  # the day matters to quotas only


async def test_unreachable_redis_refuses_with_queue_unavailable() -> None:
    dead = connect(DEAD_URL)
    admission = RedisAdmission(dead, RedisKeys("sstest-dead"))
    started = time.monotonic()
    with pytest.raises(QueueUnavailable):
        await admission.admit("acme", Limits(requests_per_s=10), 1)
    await admission.release(Permit("acme", "a-lease"))  # the lease expires by itself
    assert time.monotonic() - started < 5
    await dead.aclose()


async def test_unlimited_tenants_never_touch_redis() -> None:
    dead = connect(DEAD_URL)
    admission = RedisAdmission(dead, RedisKeys("sstest-dead"))
    started = time.monotonic()
    for _ in range(1000):
        async with admission.hold("acme", Limits(), 10) as permit:
            assert permit == Permit("acme", None)
    assert time.monotonic() - started < 0.5
    await dead.aclose()
