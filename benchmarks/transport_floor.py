"""The floor under the sync latency target: what one request/reply round trip costs between
two processes on this machine through Redis streams, against a Unix socket, with no
scaleserve code at all.

The client writes one item and waits for its answer; the echoing process reads it and
writes the answer back. Through Redis: ``XADD`` to a stream the echo process blocks on
with ``XREAD``, which answers with ``XADD`` to a stream the client blocks on, raw RESP over
loopback TCP parsed by hiredis (the shape of scaleserve's Redis path, without its work).
Through the socket: a line each way (the shape of the embedded queue). Run alone:

    python benchmarks/transport_floor.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import hiredis
import uvloop  # as scaleserve's processes run

REDIS = ("127.0.0.1", 6379)
ROUND_TRIPS = 5000


@dataclass(frozen=True)
class Floor:
    redis_p50_ms: float
    socket_p50_ms: float


def measure(round_trips: int = ROUND_TRIPS) -> Floor:
    """Median round trip through Redis streams and through a Unix socket."""
    return Floor(
        statistics.median(_in_child_pair(_redis_echo, _redis_client, round_trips)) * 1e3,
        statistics.median(_in_child_pair(_socket_echo, _socket_client, round_trips)) * 1e3,
    )


def _in_child_pair(echo: object, client: object, round_trips: int) -> list[float]:
    name = f"floor-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        where = str(Path(folder) / "floor.sock")
        ready = multiprocessing.Event()
        process = multiprocessing.Process(target=echo, args=(name, where, ready))
        process.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the echoing process did not start")
            measured = client(name, where, round_trips)  # type: ignore[operator]
            return uvloop.run(asyncio.wait_for(measured, timeout=300))
        finally:
            process.join(30)
            if process.is_alive():
                process.kill()


def _resp(*args: object) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Connection:
    async def open(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection(*REDIS)
        self.parser = hiredis.Reader()
        return self

    async def call(self, *args: object) -> object:
        self.writer.write(_resp(*args))
        while (answer := self.parser.gets()) is False:
            self.parser.feed(await self.reader.read(65536))
        return answer

    def close(self) -> None:
        self.writer.close()


def _redis_echo(name: str, _: str, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        redis = await _Connection().open()
        ready.set()
        last = "0-0"  # a fresh stream: from its start, so no item the client sent is missed
        while True:
            answer = await redis.call("XREAD", "BLOCK", 0, "STREAMS", f"{name}:in", last)
            for _, entries in answer:  # type: ignore[union-attr]
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    if fields[1] == b"stop":
                        redis.close()
                        return
                    await redis.call(
                        "XADD", f"{name}:out", "MAXLEN", "~", 1000, "*", "o", fields[1]
                    )

    uvloop.run(main())


async def _redis_client(name: str, _: str, round_trips: int) -> list[float]:
    send, receive = await _Connection().open(), await _Connection().open()
    took: list[float] = []
    last = "0-0"
    for n in range(round_trips):
        started = time.perf_counter()
        await send.call("XADD", f"{name}:in", "MAXLEN", "~", 1000, "*", "p", n)
        answer = await receive.call("XREAD", "BLOCK", 0, "STREAMS", f"{name}:out", last)
        last = answer[0][1][-1][0].decode()  # type: ignore[index]
        took.append(time.perf_counter() - started)
    await send.call("XADD", f"{name}:in", "*", "p", "stop")
    await send.call("DEL", f"{name}:in", f"{name}:out")
    send.close()
    receive.close()
    return took


def _socket_echo(_: str, where: str, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        done = asyncio.Event()

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while (line := await reader.readline()) not in {b"", b"stop\n"}:
                writer.write(line)
            writer.close()
            done.set()

        server = await asyncio.start_unix_server(echo, where)
        ready.set()
        await done.wait()
        server.close()

    uvloop.run(main())


async def _socket_client(_: str, where: str, round_trips: int) -> list[float]:
    reader, writer = await asyncio.open_unix_connection(where)
    took: list[float] = []
    for n in range(round_trips):
        started = time.perf_counter()
        writer.write(b"%d\n" % n)
        await reader.readline()
        took.append(time.perf_counter() - started)
    writer.write(b"stop\n")
    writer.close()
    return took


if __name__ == "__main__":
    floor = measure()
    print(f"{os.cpu_count()} CPUs; round trip p50 over {ROUND_TRIPS} (ms):")
    print(f"  through Redis streams (loopback TCP): {floor.redis_p50_ms:.3f}")
    print(f"  through a Unix socket:                {floor.socket_p50_ms:.3f}")
