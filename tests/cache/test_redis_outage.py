"""A Redis that goes away never fails a request: the tier is passed over, then comes back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY

from scaleserve.cache.backend import Entry
from scaleserve.cache.backends.redis import RedisBackend
from scaleserve.cache.keys import cache_prefix, namespace
from scaleserve.errors import ServingError
from scaleserve.testing import free_port

PREFIX = cache_prefix("outage")
KEY = namespace(PREFIX, "m", "1", "public") + "k"


class PrivateRedis:
    """A redis-server of our own, on its own port, that a test may stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _answers(self.port):
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI must run the Redis tests)")
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


def errors(operation: str) -> float:
    labels = {"tier": "redis", "operation": operation}
    return REGISTRY.get_sample_value("scaleserve_cache_errors_total", labels) or 0.0


def entry() -> Entry:
    return Entry(b'"x"', time.time() + 60, time.time() + 60)


async def test_lookups_miss_and_writes_drop_while_redis_is_down(
    private_redis: PrivateRedis,
) -> None:
    backend = RedisBackend(private_redis.url, PREFIX, timeout_s=0.5, retry_after_s=0.5)
    await backend.put_many("m", [(KEY, entry())])
    assert await backend.get_many("m", [KEY]) != [None]

    private_redis.stop()
    before = errors("get")
    started = time.monotonic()
    assert await backend.get_many("m", [KEY]) == [None]
    assert await backend.get_many("m", [KEY]) == [None]  # passed over: no second wait
    await backend.put_many("m", [(KEY, entry())])  # dropped
    assert time.monotonic() - started < 5
    assert errors("get") == before + 1
    with pytest.raises(ServingError):
        await backend.purge("m")  # a purge must not pretend it happened

    private_redis.start()  # empty: it kept nothing
    async with asyncio.timeout(30):
        while (found := await backend.get_many("m", [KEY])) == [None]:
            await backend.put_many("m", [(KEY, entry())])
            await asyncio.sleep(0.1)
    assert found[0] is not None
    await backend.close()


class Heard:
    """What the purge listener was told, with an event for each new message."""

    def __init__(self) -> None:
        self.models: list[str | None] = []
        self._changed = asyncio.Event()

    def __call__(self, model: str | None) -> None:
        self.models.append(model)
        self._changed.set()

    async def until(self, condition: Callable[[list[str | None]], bool]) -> None:
        async with asyncio.timeout(30):
            while not condition(self.models):
                self._changed.clear()
                await self._changed.wait()


async def test_the_purge_listener_survives_a_redis_restart(private_redis: PrivateRedis) -> None:
    heard = Heard()
    backend = RedisBackend(private_redis.url, PREFIX, retry_after_s=0.1)
    await backend.start(on_purge=heard)
    await backend.purge("m")
    await heard.until(lambda models: models == ["m"])

    private_redis.stop()
    private_redis.start()
    # back on the channel, it assumes it missed purges and drops everything (None)
    await heard.until(lambda models: None in models)
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(ServingError):  # the client may still be reconnecting
                await backend.purge("m")
                break
            await asyncio.sleep(0.1)
    await heard.until(lambda models: models[-1] == "m")
    await backend.close()
