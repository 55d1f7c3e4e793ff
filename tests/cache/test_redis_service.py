"""The Redis tier in real gateways sharing one Redis (each test its own key prefix)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import orjson
import pytest
from redis.asyncio import Redis

from scaleserve.cache.backend import Entry
from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import running_service
from tests.cache.app import VERSION_ENV
from tests.cache.conftest import CACHE_APP

EXACT_APP = f"{CACHE_APP}:Exact"
URL = "/v1/models/exact/predict"
ONE = {"inputs": [{"value": 42}]}


@pytest.fixture
def deployment(redis_url: str, redis_keys: RedisKeys) -> dict[str, str]:
    return {"SCALESERVE_REDIS_URL": redis_url, "SCALESERVE_REDIS_PREFIX": redis_keys.prefix}


@asynccontextmanager
async def gateway(env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    with running_service(EXACT_APP, env=env) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            client.headers["x-test-admin-url"] = service.admin_url  # where purges go
            yield client


async def x_cache(client: httpx.AsyncClient, body: dict[str, object] = ONE) -> str:
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


async def test_gateways_share_entries_and_purges(deployment: dict[str, str]) -> None:
    async with gateway(deployment) as a, gateway(deployment) as b:
        assert await x_cache(a) == "miss"
        assert await x_cache(b) == "hit-redis"
        assert await x_cache(b) == "hit-memory"  # promoted into b's memory tier

        purged = await a.delete(a.headers["x-test-admin-url"] + "/admin/models/exact/cache")
        assert purged.json()["purged"] >= 1
        # b hears of the purge on the channel and drops the entry from its memory too
        async with asyncio.timeout(30):
            while (served := await x_cache(b)) == "hit-memory":  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)
        assert served == "miss"


async def test_a_new_version_never_sees_an_older_ones_outputs(
    deployment: dict[str, str],
) -> None:
    async with gateway({**deployment, VERSION_ENV: "1"}) as v1:
        assert await x_cache(v1) == "miss"
    async with gateway({**deployment, VERSION_ENV: "2"}) as v2:
        response = await v2.post(URL, json=ONE)
        assert response.headers["x-cache"] == "miss"
        assert response.json()["version"] == "2"
    async with gateway({**deployment, VERSION_ENV: "1"}) as v1_again:
        assert await x_cache(v1_again) == "hit-redis"  # its own entries are still there


async def test_without_the_memory_tier_every_hit_comes_from_redis(
    deployment: dict[str, str], redis: Redis, redis_keys: RedisKeys
) -> None:
    async with gateway({**deployment, "SCALESERVE_CACHE_MEMORY_TIER": "off"}) as client:
        first = await client.post(URL, json=ONE)
        assert [await x_cache(client) for _ in range(3)] == ["hit-redis"] * 3
    [key] = [k async for k in redis.scan_iter(match=f"{redis_keys.prefix}:cache:*")]
    assert key.decode().startswith(f"{redis_keys.prefix}:cache:exact:1:t.default:")
    # the value is msgpack of (output JSON, fresh until, keep until): never pickle
    entry = msgspec.msgpack.decode(await redis.get(key), type=Entry)
    assert orjson.loads(entry.output) == first.json()["outputs"][0]
    assert 0 < await redis.pttl(key) <= 3600 * 1000
