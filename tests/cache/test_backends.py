"""Every cache tier behaves the same: the in-memory one and the real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from redis.asyncio import Redis

from scaleserve.cache.backend import CacheBackend, Entry
from scaleserve.cache.backends.memory import Bound, MemoryBackend
from scaleserve.cache.backends.redis import RedisBackend
from scaleserve.cache.keys import cache_prefix, namespace
from scaleserve.redis_keys import RedisKeys


@pytest.fixture(params=["memory", "redis"])
def tier(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The tier under test and its key prefix (Redis: one of its own, cleaned up after)."""
    if request.param == "memory":
        return "memory", cache_prefix(f"sstest-{uuid.uuid4().hex[:12]}")
    return "redis", cache_prefix(request.getfixturevalue("redis_prefix"))


@pytest.fixture
def prefix(tier: tuple[str, str]) -> str:
    return tier[1]


@pytest.fixture
async def backend(
    request: pytest.FixtureRequest, tier: tuple[str, str]
) -> AsyncIterator[CacheBackend]:
    name, prefix = tier
    if name == "memory":
        memory = MemoryBackend({"m": Bound(100, 1 << 20), "other": Bound(100, 1 << 20)})
        yield memory
        await memory.close()
        return
    redis = RedisBackend(request.getfixturevalue("redis_url"), prefix)
    yield redis
    await redis.close()


def entry(output: bytes, ttl_s: float = 60, stale_s: float = 0) -> Entry:
    now = time.time()
    return Entry(output, now + ttl_s, now + ttl_s + stale_s)


async def test_what_is_put_is_got_back_in_order(backend: CacheBackend, prefix: str) -> None:
    ns = namespace(prefix, "m", "1", "public")
    stored = [(ns + "a", entry(b'{"x":1}')), (ns + "b", entry(b'"two"'))]
    await backend.put_many("m", stored)
    got = await backend.get_many("m", [ns + "b", ns + "missing", ns + "a"])
    assert got == [stored[1][1], None, stored[0][1]]


async def test_an_entry_is_kept_past_its_freshness_until_keep_until(
    backend: CacheBackend, prefix: str
) -> None:
    key = namespace(prefix, "m", "1", "public") + "stale"
    stale = entry(b"1", ttl_s=-5, stale_s=60)  # expired 5 s ago, may still serve stale
    await backend.put_many("m", [(key, stale)])
    [got] = await backend.get_many("m", [key])
    assert got == stale and not got.fresh(time.time())


async def test_an_entry_past_keep_until_is_gone(backend: CacheBackend, prefix: str) -> None:
    key = namespace(prefix, "m", "1", "public") + "gone"
    await backend.put_many("m", [(key, entry(b"1", ttl_s=-5))])
    assert await backend.get_many("m", [key]) == [None]


async def test_purge_drops_one_models_entries_of_every_version_and_scope(
    backend: CacheBackend, prefix: str
) -> None:
    mine = [namespace(prefix, "m", v, s) + "k" for v in ("1", "2") for s in ("public", "t.x")]
    theirs = namespace(prefix, "other", "1", "public") + "k"
    kept = entry(b"2")
    await backend.put_many("m", [(k, entry(b"1")) for k in mine])
    await backend.put_many("other", [(theirs, kept)])
    assert await backend.purge("m") == 4
    assert await backend.get_many("m", mine) == [None] * 4
    assert await backend.get_many("other", [theirs]) == [kept]


async def test_redis_holds_msgpack_with_an_expiry_never_pickle(
    redis: Redis, redis_url: str, redis_keys: RedisKeys
) -> None:
    backend = RedisBackend(redis_url, cache_prefix(redis_keys.prefix))
    key = namespace(cache_prefix(redis_keys.prefix), "m", "1", "public") + "k"
    stored = entry(b'{"out":[1,2]}', ttl_s=30, stale_s=30)
    await backend.put_many("m", [(key, stored)])
    raw = await redis.get(key)
    assert msgspec.msgpack.decode(raw, type=Entry) == stored
    assert not raw.startswith(b"\x80")  # a pickle starts with its protocol byte
    assert 55_000 < await redis.pttl(key) <= 60_000
    await backend.close()


async def test_a_foreign_value_under_a_cache_key_is_a_miss(
    redis: Redis, redis_url: str, redis_keys: RedisKeys
) -> None:
    backend = RedisBackend(redis_url, cache_prefix(redis_keys.prefix))
    key = namespace(cache_prefix(redis_keys.prefix), "m", "1", "public") + "k"
    await redis.set(key, b"\x80\x04K\x01.")  # a pickle of 1: never loaded
    assert await backend.get_many("m", [key]) == [None]
    await backend.close()
