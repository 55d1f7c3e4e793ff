"""RedisLink, the lean connection of the hot paths: answers matched to their commands,
errors as redis-py raises them, and a connection that fails fast and comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scaleserve.queue.backends.redis_connection import connect
from scaleserve.queue.backends.redis_link import RedisLink, encode, stream_read
from scaleserve.redis_keys import RedisKeys


@pytest.fixture
async def link(redis: Redis) -> AsyncIterator[RedisLink]:
    lean = RedisLink.like(redis)
    yield lean
    await lean.close()


def test_commands_are_encoded_as_resp_with_exact_floats() -> None:
    assert encode([("SET", b"k", 1, 0.1)]) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n0.1\r\n"
    )


async def test_answers_and_errors_come_back_as_with_redis_py(
    link: RedisLink, redis_keys: RedisKeys
) -> None:
    key = f"{redis_keys.prefix}:x"
    assert await link.execute_command("SET", key, "ünïcode") == b"OK"
    assert await link.execute_command("GET", key) == "ünïcode".encode()
    answers = await link.pipeline([("INCR", key), ("GET", key), ("EVALSHA", "0" * 40, 0)])
    assert isinstance(answers[0], ResponseError)  # not an integer
    assert answers[1] == "ünïcode".encode()
    assert isinstance(answers[2], NoScriptError)
    with pytest.raises(ResponseError, match="wrong number of arguments"):
        await link.execute_command("GET")
    assert await link.execute_command("DEL", key) == 1


async def test_commands_of_many_tasks_share_the_connection_in_order(link: RedisLink) -> None:
    async def echo(n: int) -> bytes:
        return bytes(await link.execute_command("ECHO", n))

    assert await asyncio.gather(*(echo(n) for n in range(500))) == [b"%d" % n for n in range(500)]


async def test_a_caller_that_gives_up_leaves_the_next_answers_in_place(
    link: RedisLink, redis_keys: RedisKeys
) -> None:
    stream = f"{redis_keys.prefix}:nothing"
    blocked = asyncio.create_task(
        link.execute_command("XREAD", "BLOCK", 300, "STREAMS", stream, "$", block_s=0.3)
    )
    await asyncio.sleep(0.05)
    blocked.cancel()
    assert await link.execute_command("ECHO", "after") == b"after"  # answered after the XREAD


async def test_stream_reads_read_as_with_redis_py(
    link: RedisLink, redis: Redis, redis_keys: RedisKeys
) -> None:
    stream = f"{redis_keys.prefix}:s"
    entry = await redis.xadd(stream, {"p": b"1", "q": "two"})
    answer = await link.execute_command("XREAD", "STREAMS", stream, "0-0")
    expected = [(name, entries) for name, entries in await redis.xread({stream: "0-0"})]
    assert stream_read(answer) == expected
    assert stream_read(answer) == [(stream.encode(), [(entry, {b"p": b"1", b"q": b"two"})])]
    assert stream_read(await link.execute_command("XREAD", "STREAMS", stream, "$")) == []


async def test_the_database_of_the_url_is_selected(redis_url: str) -> None:
    client = connect(redis_url.rsplit("/", 1)[0] + "/5")
    lean = RedisLink.like(client)
    try:
        info = await lean.execute_command("CLIENT", "INFO")
        assert b" db=5 " in info
    finally:
        await lean.close()
        await client.aclose()


@contextlib.asynccontextmanager
async def fake_redis(answer: Callable[[int], bytes | None]) -> AsyncIterator[RedisLink]:
    """A server that reads one command per connection and writes ``answer(n)`` for the
    ``n``-th connection (``None``: nothing; ``b""``: hangs up), then waits for the client to
    hang up."""
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await reader.read(1000)
        reply = answer(len(handlers))
        if reply:
            writer.write(reply)
        if reply != b"":
            with contextlib.suppress(ConnectionError):
                await reader.read(1000)  # until the client hangs up
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lean = RedisLink({"host": "127.0.0.1", "port": port, "tls": False}, timeout_s=0.3)
    try:
        yield lean
    finally:
        await lean.close()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers)


async def test_a_silent_server_times_out_and_the_next_command_connects_again() -> None:
    async with fake_redis(lambda n: None if n == 1 else b"+PONG\r\n") as lean:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await lean.execute_command("PING")
        assert loop.time() - started < 2
        assert await lean.execute_command("PING") == b"PONG"


async def test_a_dropped_connection_fails_what_waits_on_it_and_comes_back() -> None:
    async with fake_redis(lambda n: b"" if n == 1 else b"+PONG\r\n") as lean:
        with pytest.raises(RedisConnectionError):
            await lean.execute_command("PING")
        assert await lean.execute_command("PING") == b"PONG"


async def test_nobody_listening_is_a_connection_error_at_once() -> None:
    lean = RedisLink({"host": "127.0.0.1", "port": 1, "tls": False})
    with pytest.raises(RedisConnectionError):
        await lean.execute_command("PING")
