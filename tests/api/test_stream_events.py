"""``EventStream`` on its own, over a scripted ASGI connection: pings while idle, errors
before and after the first event, and a client that leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from starlette.responses import Response

from scaleserve.api.streaming import PING, EventStream, sse_event
from scaleserve.errors import Overloaded, ScaleserveError


class Connection:
    """Records what the response sends; ``leave()`` makes ``receive`` report a disconnect."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()  # something was sent
        self._gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.arrived.set()

    def leave(self) -> None:
        self._gone.set()

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body" and m["body"]]

    async def wait_for(self, body: bytes) -> None:
        async with asyncio.timeout(30):
            while body not in self.bodies():
                self.arrived.clear()
                await self.arrived.wait()


def error_response(error: ScaleserveError | None) -> Response:
    return Response(b"refused", 503 if isinstance(error, Overloaded) else 500)


def error_event(error: ScaleserveError | None) -> bytes:
    return sse_event(b'"failed"', "error")


async def run(stream: EventStream, connection: Connection) -> None:
    scope = {"type": "http", "method": "POST", "path": "/"}
    await stream(scope, connection.receive, connection.send)


async def test_events_then_the_end_of_the_body() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        yield sse_event(b"1")
        yield sse_event(b"2")

    connection = Connection()
    await run(EventStream(events(), error_response, error_event), connection)
    assert connection.sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in connection.sent[0]["headers"]
    assert connection.bodies() == [b"data: 1\n\n", b"data: 2\n\n"]
    assert connection.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_pings_while_no_event_comes() -> None:
    connection = Connection()

    async def events() -> AsyncGenerator[bytes, None]:
        yield sse_event(b"first")
        await connection.wait_for(PING)  # idle until the stream has pinged
        yield sse_event(b"second")

    await run(EventStream(events(), error_response, error_event, ping_s=0.01), connection)
    bodies = connection.bodies()
    assert bodies[0] == b"data: first\n\n" and bodies[-1] == b"data: second\n\n"
    assert PING in bodies[1:-1]


async def test_an_error_before_the_first_event_is_a_plain_response() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        raise Overloaded("m", 1)
        yield b""  # pragma: no cover - makes this a generator

    connection = Connection()
    await run(EventStream(events(), error_response, error_event), connection)
    assert connection.sent[0]["status"] == 503
    assert connection.bodies() == [b"refused"]


async def test_an_error_after_the_first_event_is_the_last_event() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        yield sse_event(b"1")
        raise RuntimeError("a bug")  # not ours to describe: a generic error event

    connection = Connection()
    await run(EventStream(events(), error_response, error_event), connection)
    assert connection.sent[0]["status"] == 200
    assert connection.bodies() == [b"data: 1\n\n", b'event: error\ndata: "failed"\n\n']


async def test_a_client_that_leaves_closes_the_events() -> None:
    closed = asyncio.Event()
    connection = Connection()

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield sse_event(b"1")
            await asyncio.Event().wait()  # never: only leaving ends this stream
        finally:
            closed.set()

    response = asyncio.create_task(
        run(EventStream(events(), error_response, error_event), connection)
    )
    await connection.wait_for(b"data: 1\n\n")
    connection.leave()
    await asyncio.wait_for(response, timeout=30)
    assert closed.is_set()


async def test_a_client_that_leaves_before_the_first_event_closes_them_too() -> None:
    closed = asyncio.Event()
    started = asyncio.Event()
    connection = Connection()

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            started.set()
            await asyncio.Event().wait()
            yield b""  # pragma: no cover
        finally:
            closed.set()

    response = asyncio.create_task(
        run(EventStream(events(), error_response, error_event), connection)
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    connection.leave()
    await asyncio.wait_for(response, timeout=30)
    assert closed.is_set() and connection.sent == []
