"""Tenancy stores over every backend: in-memory SQLite, a SQLite file and a real Redis.

A ``Backing`` is where a deployment keeps its tenants (a SQLite file, a Redis prefix); each
``open()`` is a new store over it, as another process (a second gateway, the CLI) would
open it: a new SQLite connection, or a new Redis client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from scaleserve.queue.backends.redis_connection import connect
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy.backends.redis import RedisTenancyStore
from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore

Store = SqliteTenancyStore | RedisTenancyStore


class Backing:
    def __init__(self, kind: str, make: Callable[[], Store]) -> None:
        self.kind = kind
        self._make = make
        self._stores: list[Store] = []
        self.clients: list[Redis] = []
        self.path: Path | None = None
        self.keys: RedisKeys | None = None

    async def open(self) -> Store:
        store = self._make()
        await store.open()
        self._stores.append(store)
        return store

    async def close(self) -> None:
        for store in self._stores:
            await store.close()
        for client in self.clients:
            await client.aclose()

    async def raw(self) -> bytes:
        """Everything the backing holds, as bytes: the files of the SQLite database, or every
        key name and value under the Redis prefix."""
        if self.path is not None:
            return b"".join(_read(p) for p in sorted(self.path.parent.glob(f"{self.path.name}*")))
        assert self.keys is not None
        redis = self.clients[0]
        names = [name async for name in redis.scan_iter(f"{self.keys.prefix}:*")]
        return b"".join([await _dump(redis, name) for name in names])


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def _dump(redis: Redis, key: bytes) -> bytes:
    kind = (await redis.type(key)).decode()
    if kind == "string":
        values = [await redis.get(key)]
    elif kind == "hash":
        values = [b for pair in (await redis.hgetall(key)).items() for b in pair]
    elif kind == "set":
        values = list(await redis.smembers(key))
    else:
        values = [await redis.dump(key)]
    return key + b"\0" + b"\0".join(v for v in values if v is not None)


def _backing(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    if kind == "memory":
        return Backing(kind, lambda: SqliteTenancyStore(":memory:"))
    if kind == "sqlite":
        path = tmp_path / "tenancy" / "tenants.sqlite3"
        backing = Backing(kind, lambda: SqliteTenancyStore(path))
        backing.path = path
        return backing
    redis_url: str = request.getfixturevalue("redis_url")
    keys: RedisKeys = request.getfixturevalue("redis_keys")  # deletes the prefix afterwards

    def make() -> Store:
        backing.clients.append(connect(redis_url))
        return RedisTenancyStore(backing.clients[-1], keys)

    backing = Backing(kind, make)
    backing.keys = keys
    return backing


# The backings are made by plain fixtures: an async fixture cannot ask for the (async) Redis
# fixtures by name, and only the Redis parameter must need Redis.
@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_backing(request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    return _backing(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def durable_backing(request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    return _backing(request.param, request, tmp_path)


@pytest.fixture
async def backing(any_backing: Backing) -> AsyncIterator[Backing]:
    """Every backend."""
    yield any_backing
    await any_backing.close()


@pytest.fixture
async def durable(durable_backing: Backing) -> AsyncIterator[Backing]:
    """The backends that outlive a store: a second ``open()`` sees what the first wrote."""
    yield durable_backing
    await durable_backing.close()


@pytest.fixture
async def store(backing: Backing) -> Store:
    return await backing.open()
