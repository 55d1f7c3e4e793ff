"""``EventStream``: a response relaying updates as Server-Sent Events, each with its id.

It ends cleanly when the updates end (the sampler closed) or after ``lifetime_s``: the
browser then reconnects by itself, sending the last id it got, and is sent what it missed,
so a stream never holds a stopping server for longer than that. When the client goes away
the relay stops at once, which lets the sampler go idle if it was the last watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from scaleserve.background import stop_tasks

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-accel-buffering", b"no"),  # a proxy in front must not hold events back
]

Updates = AsyncGenerator[tuple[str, bytes], None]
"""``(id, data)`` pairs; ``data`` is one line (compact JSON), the id has no newline."""


class EventStream(Response):
    """One event per update of ``updates``, for at most ``lifetime_s``; ``retry_ms`` tells
    the browser how soon to reconnect after the stream ends or breaks."""

    media_type = "text/event-stream"

    def __init__(
        self, updates: Updates, retry_ms: int = 1000, lifetime_s: float | None = None
    ) -> None:
        super().__init__()
        self._updates = updates
        self._retry_ms = retry_ms
        self._lifetime_s = lifetime_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await _send(send, f"retry: {self._retry_ms}\n\n".encode())
        relay = asyncio.create_task(self._relay(send))
        gone = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait(
                {relay, gone}, timeout=self._lifetime_s, return_when=asyncio.FIRST_COMPLETED
            )
            left = gone.done()
        finally:
            await stop_tasks((gone, relay))
        if not left:  # ended or lived its time: end the body (no one to end it for otherwise)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _relay(self, send: Send) -> None:
        async with contextlib.aclosing(self._updates) as updates:
            async for update_id, data in updates:
                await _send(send, b"id: " + update_id.encode() + b"\ndata: " + data + b"\n\n")


async def _send(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
