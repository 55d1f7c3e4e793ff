"""Feature stores over every backend: memory, a SQLite file and a real Redis.

A ``Backing`` is where a deployment keeps its features (a SQLite file, a Redis prefix);
each ``open()`` is a new store over it, as another process would open it. ``round_trips()``
counts what a backend sends to its engine, where it has one: SQL statements run by SQLite,
and writes of requests to Redis's socket (a pipeline is one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

from scaleserve.features.backends.memory import MemoryFeatureStore
from scaleserve.features.backends.redis import RedisFeatureStore
from scaleserve.features.backends.sqlite import SqliteFeatureStore
from scaleserve.redis_keys import RedisKeys

Store = MemoryFeatureStore | SqliteFeatureStore | RedisFeatureStore


class CountingConnection(Connection):
    """A Redis connection that counts the requests it sends (one per command, one per
    pipeline): the round trips, since each is followed by waiting for its replies."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)


class Backing:
    def __init__(self, kind: str, make: Callable[[], Store]) -> None:
        self.kind = kind
        self._make = make
        self._stores: list[Store] = []
        self.clients: list[Redis] = []
        self._statements = 0

    async def open(self) -> Store:
        store = self._make()
        await store.open()
        if isinstance(store, SqliteFeatureStore):
            # the store's own connection: the only way to see the statements it runs
            await store._file.conn().set_trace_callback(self._count_statement)
        self._stores.append(store)
        return store

    def _count_statement(self, sql: str) -> None:
        self._statements += 1

    def round_trips(self) -> int:
        if self.kind == "redis":
            return CountingConnection.sent
        return self._statements

    async def close(self) -> None:
        for store in self._stores:
            await store.close()
        for client in self.clients:
            await client.aclose()


def _backing(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    if kind == "memory":
        store = MemoryFeatureStore()  # one dict: every open() is the same store
        return Backing(kind, lambda: store)
    if kind == "sqlite":
        path = tmp_path / "features" / "features.sqlite3"
        return Backing(kind, lambda: SqliteFeatureStore(path))
    request.getfixturevalue("redis_url")  # skips (or fails in CI) without Redis
    keys: RedisKeys = request.getfixturevalue("redis_keys")  # deletes the prefix afterwards

    def make() -> Store:
        pool = ConnectionPool(host="127.0.0.1", port=6379, connection_class=CountingConnection)
        made.clients.append(Redis.from_pool(pool))
        return RedisFeatureStore(made.clients[-1], keys)

    made = Backing(kind, make)
    return made


# Plain fixtures make the backings: only the Redis parameter must ask for Redis.
@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_backing(request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    return _backing(request.param, request, tmp_path)


@pytest.fixture
async def backing(any_backing: Backing) -> AsyncIterator[Backing]:
    """Every backend."""
    yield any_backing
    await any_backing.close()


@pytest.fixture
async def store(backing: Backing) -> Store:
    return await backing.open()
