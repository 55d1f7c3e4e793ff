"""A lean Redis connection for the hot paths: queueing an item, reading a batch, replying.

redis-py spends 50-80 us of CPU on every command it sends (its pool, retry and timeout
wrappers, its own observability hooks), several times what the round trip itself costs
on loopback; a synchronous request through Redis pays it four times, a worker batch twice
(measured: ``benchmarks/jobs.py``). ``RedisLink`` sends RESP2 straight from an asyncio
protocol and parses with hiredis, the parser redis-py itself uses.

Commands from any number of tasks share one connection, and answers come back in the
order the commands went out (Redis answers a connection in order), so concurrent callers
pipeline for free: what the tasks send during one turn of the event loop goes out in one
write at its end. A blocking command (``XREAD BLOCK``)
holds its connection, so it gets a link of its own.

Failures look like redis-py's, so callers catch ``REDIS_ERRORS`` as before: an error reply
raises ``ResponseError`` (``NoScriptError`` for ``NOSCRIPT``), a lost or refused connection
``ConnectionError``, and an answer that takes longer than the socket timeout
``TimeoutError``. Both of the last two drop the connection (every command in flight on it
fails with it); the next command connects again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scaleserve.queue.backends.redis_connection import CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S
from scaleserve.queue.backends.redis_wire import StreamRead

Arg = bytes | str | int | float
Command = Sequence[Arg]


def encode(commands: Sequence[Command]) -> bytes:
    """``commands`` in RESP2, ready to write: floats as ``repr`` (exact), as redis-py does."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            elif isinstance(arg, float):
                data = repr(arg).encode()
            else:
                data = b"%d" % arg
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Batch:
    """The answers due to one ``send``: its future resolves once they have all come."""

    __slots__ = ("answers", "count", "future")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.count = count
        self.answers: list[Any] = []


class _Protocol(asyncio.Protocol):
    """Matches answers to the commands sent, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[_Batch] = collections.deque()
        self._reader = hiredis.Reader()
        self._unsent: list[bytes] = []
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (answer := self._reader.gets()) is not False:
            batch = self.waiting[0]
            if isinstance(answer, hiredis.ReplyError):
                answer = _error(str(answer))
            batch.answers.append(answer)
            if len(batch.answers) == batch.count:
                self.waiting.popleft()
                if not batch.future.done():  # else its caller gave up: the answers are dropped
                    batch.future.set_result(batch.answers)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = RedisConnectionError(f"the connection to Redis was lost: {exc!r}")
        while self.waiting:
            batch = self.waiting.popleft()
            if not batch.future.done():
                batch.future.set_exception(self.lost)

    def send(self, data: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Write ``count`` commands encoded as ``data``; the future of their answers."""
        if self.lost is not None or self.transport is None:
            raise RedisConnectionError("the connection to Redis is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self.waiting.append(_Batch(future, count))
        if not self._unsent:
            loop.call_soon(self._flush)
        self._unsent.append(data)
        return future

    def _flush(self) -> None:
        """Write what the tasks of this turn of the loop sent, in one system call."""
        unsent, self._unsent = self._unsent, []
        if self.transport is not None and self.lost is None:
            self.transport.write(b"".join(unsent))


def _error(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class RedisLink:
    """One connection to the Redis that ``like`` (a redis-py client) talks to."""

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        timeout_s: float = SOCKET_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self._kwargs = connect_kwargs
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def like(cls, redis: Redis) -> RedisLink:
        """A link to the server of ``redis``, with the same address, database, credentials
        and TLS (default certificate checks)."""
        pool = redis.connection_pool
        kwargs = pool.connection_kwargs
        where: dict[str, Any] = {
            "db": kwargs.get("db", 0),
            "username": kwargs.get("username"),
            "password": kwargs.get("password"),
        }
        if issubclass(pool.connection_class, UnixDomainSocketConnection):
            where["path"] = kwargs["path"]
        else:
            where["host"], where["port"] = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
            where["tls"] = issubclass(pool.connection_class, SSLConnection)
        timeout_s = kwargs.get("socket_timeout") or SOCKET_TIMEOUT_S
        connect_s = kwargs.get("socket_connect_timeout") or CONNECT_TIMEOUT_S
        return cls(where, timeout_s, connect_s)

    async def execute_command(self, *args: Arg, block_s: float = 0.0) -> Any:
        """Send one command and return its answer; ``block_s``: how long it may block in
        Redis (``XREAD BLOCK``) on top of the socket timeout."""
        [answer] = raise_first(await self.pipeline([args], block_s=block_s))
        return answer

    async def pipeline(self, commands: Sequence[Command], *, block_s: float = 0.0) -> list[Any]:
        """Send ``commands`` in one write; their answers in order, an error answer as its
        exception (not raised), as redis-py's ``execute(raise_on_error=False)``."""
        if not commands:
            return []
        protocol = await self._connected()
        answers = protocol.send(encode(commands), len(commands))
        try:
            async with asyncio.timeout(self._timeout_s + block_s):
                return await answers
        except TimeoutError:
            self._drop(protocol)
            raise RedisTimeoutError("Redis did not answer in time") from None

    async def close(self) -> None:
        if self._protocol is not None:
            self._drop(self._protocol)

    def _drop(self, protocol: _Protocol) -> None:
        """Close the connection: the answers still due on it can no longer be matched."""
        if protocol.transport is not None:
            protocol.transport.abort()
        if self._protocol is protocol:
            self._protocol = None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        async with self._connecting:
            if self._protocol is None or self._protocol.lost is not None:
                self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        where = self._kwargs
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if "path" in where:
                    _, protocol = await loop.create_unix_connection(_Protocol, where["path"])
                else:
                    context = ssl.create_default_context() if where["tls"] else None
                    _, protocol = await loop.create_connection(
                        _Protocol, where["host"], where["port"], ssl=context
                    )
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc!r}") from exc
        setup = self._setup_commands()
        if setup:
            try:
                async with asyncio.timeout(self._timeout_s):
                    raise_first(await protocol.send(encode(setup), len(setup)))
            except BaseException:
                with contextlib.suppress(Exception):
                    protocol.transport.abort()  # type: ignore[union-attr]
                raise
        return protocol

    def _setup_commands(self) -> list[Command]:
        where = self._kwargs
        setup: list[Command] = []
        if where.get("password") is not None:
            user = where.get("username")
            setup.append(("AUTH", user, where["password"]) if user else ("AUTH", where["password"]))
        if where.get("db"):
            setup.append(("SELECT", where["db"]))
        return setup


def raise_first(answers: list[Any]) -> list[Any]:
    """``answers``, unless one is an error: then the first error is raised."""
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers


def pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's flat ``[field, value, ...]`` list as a dict (as redis-py gives it)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def stream_read(answer: Any) -> StreamRead:
    """An ``XREAD``/``XREADGROUP`` answer (``None`` when it timed out) as redis-py gives it."""
    if not answer:
        return []
    return [
        (name, [(entry_id, pairs(flat or [])) for entry_id, flat in entries])
        for name, entries in answer
    ]
