"""Memory in front of the real Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from scaleserve.cache.backend import Entry
from scaleserve.cache.backends.memory import Bound, MemoryBackend
from scaleserve.cache.backends.redis import RedisBackend
from scaleserve.cache.keys import cache_prefix, namespace
from scaleserve.cache.tiers import TieredStore


@pytest.fixture
async def tiers(
    redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[MemoryBackend, RedisBackend, str]]:
    prefix = cache_prefix(redis_prefix)
    memory = MemoryBackend({"m": Bound(100, 1 << 20)})
    redis = RedisBackend(redis_url, prefix)
    yield memory, redis, namespace(prefix, "m", "1", "public")
    await redis.close()


def entry(output: bytes, ttl_s: float = 60, stale_s: float = 60) -> Entry:
    now = time.time()
    return Entry(output, now + ttl_s, now + ttl_s + stale_s)


async def test_a_redis_hit_is_promoted_into_memory(
    tiers: tuple[MemoryBackend, RedisBackend, str],
) -> None:
    memory, redis, ns = tiers
    store = TieredStore([memory, redis])
    await redis.put_many("m", [(ns + "k", entry(b"1"))])
    [found] = await store.get_many("m", [ns + "k"])
    assert found is not None and found.tier == "redis"
    [found] = await store.get_many("m", [ns + "k"])
    assert found is not None and found.tier == "memory"


async def test_a_stale_memory_entry_gives_way_to_a_fresh_one_in_redis(
    tiers: tuple[MemoryBackend, RedisBackend, str],
) -> None:
    memory, redis, ns = tiers
    store = TieredStore([memory, redis])
    await memory.put_many("m", [(ns + "k", entry(b"old", ttl_s=-1))])
    await redis.put_many("m", [(ns + "k", entry(b"new"))])  # another gateway refreshed it
    [found] = await store.get_many("m", [ns + "k"])
    assert found is not None and found.entry.output == b"new" and found.tier == "redis"


async def test_a_stale_entry_is_still_found_when_nothing_fresher_exists(
    tiers: tuple[MemoryBackend, RedisBackend, str],
) -> None:
    memory, redis, ns = tiers
    store = TieredStore([memory, redis])
    await store.put_many("m", [(ns + "k", entry(b"old", ttl_s=-1))])
    [found] = await store.get_many("m", [ns + "k"])
    assert found is not None and found.entry.output == b"old"
    assert not found.entry.fresh(time.time())


async def test_writes_and_purges_reach_every_tier(
    tiers: tuple[MemoryBackend, RedisBackend, str],
) -> None:
    memory, redis, ns = tiers
    store = TieredStore([memory, redis])
    await store.put_many("m", [(ns + "a", entry(b"1")), (ns + "b", entry(b"2"))])
    assert None not in await memory.get_many("m", [ns + "a", ns + "b"])
    assert None not in await redis.get_many("m", [ns + "a", ns + "b"])
    assert await store.purge("m") == 2
    assert await store.get_many("m", [ns + "a", ns + "b"]) == [None, None]
