from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from redis.asyncio import Redis

from scaleserve.queue.backends.redis_connection import connect
from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import Service, running_service

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app.py"


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    """One service with every fixture model, shared by tests that do not harm it."""
    with running_service(FIXTURE_APP) as running:
        yield running


@pytest.fixture
async def client(service: Service) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:
        yield http


REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis on loopback; tests skip without it, except in CI where they must run."""
    if not _redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379 (CI must run the Redis tests)")
        pytest.skip(
            "Redis is not running on 127.0.0.1:6379: start it with `redis-server --daemonize yes`"
        )
    return REDIS_URL


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_keys(redis: Redis) -> AsyncIterator[RedisKeys]:
    """Key names of a fresh, isolated deployment; its keys are deleted afterwards."""
    keys = RedisKeys(f"sstest-{uuid.uuid4().hex[:12]}")
    yield keys
    stale = [key async for key in redis.scan_iter(match=f"{keys.prefix}:*")]
    if stale:
        await redis.delete(*stale)


@pytest.fixture
async def deployment(redis_url: str, redis: Redis) -> AsyncIterator[dict[str, str]]:
    """Environment of an isolated deployment (its own key prefix) with fast reclaims; its
    keys are deleted afterwards."""
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    yield {
        "SCALESERVE_REDIS_URL": redis_url,
        "SCALESERVE_REDIS_PREFIX": prefix,
        "SCALESERVE_CLAIM_IDLE_S": "1",
    }
    stale = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    for at in range(0, len(stale), 1000):
        await redis.delete(*stale[at : at + 1000])


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"


def _reachable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _require(name: str, port: int, start: str) -> None:
    """Skip without the service on loopback, except in CI, where its tests must run."""
    if _reachable(port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not running on 127.0.0.1:{port} (CI must run its tests)")
    pytest.skip(f"{name} is not running on 127.0.0.1:{port}: start it with `{start}`")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The real RabbitMQ on loopback (guest/guest)."""
    _require("RabbitMQ", 5672, "rabbitmq-server -detached")
    return AMQP_URL


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The real NATS server, with JetStream, on loopback."""
    _require("NATS", 4222, "nats-server --jetstream --store_dir /tmp/nats &")
    return NATS_URL


@pytest.fixture
def queue_prefix() -> str:
    """Names of a fresh, isolated deployment on RabbitMQ or NATS (tests delete what they
    made)."""
    return f"sstest-{uuid.uuid4().hex[:12]}"


PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql://{PG_HOST}:{PG_PORT}/test"
PG_SESSION = uuid.uuid4().hex[:8]


def _pg_reachable() -> bool:
    import socket

    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The real PostgreSQL on loopback; tests skip without it, except in CI where they run."""
    if not _pg_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} (CI must run it)")
        pytest.skip(
            f"PostgreSQL is not running on {PG_HOST}:{PG_PORT}: start PostgreSQL with "
            "`pg_ctlcluster 15 main start` (trust auth, a database `test`)"
        )
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema named for this session and test; dropped afterwards."""
    schema = f"sstest_{PG_SESSION}_{uuid.uuid4().hex[:8]}"
    yield schema
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(drop)
