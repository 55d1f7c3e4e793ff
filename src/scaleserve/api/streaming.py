"""Server-Sent Events out of a model's stream of chunks.

``EventStream`` is an ASGI response that relays SSE events as they are produced. It waits
for the first event before it answers, so a failure before anything was produced (queue
full, input refused, the model raised at once) still gets a proper status in the
protocol's own error shape; a failure after that can only be told in the stream, as an
event. From the start it watches the connection: when the client goes away it stops the
events, which closes the broker's stream, which tells the worker to stop generating.
While no event comes for ``ping_s`` it sends an SSE comment so proxies keep the stream open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from scaleserve.api.caller import Caller
from scaleserve.background import stop_task, stop_tasks
from scaleserve.errors import ScaleserveError
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker

log = logging.getLogger(__name__)

Events = AsyncGenerator[bytes, None]
PING = b": ping\n\n"
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def sse_event(data: bytes, name: str | None = None) -> bytes:
    """One event carrying ``data``, which must hold no newline (compact JSON does not)."""
    if name is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def model_chunks(
    caller: Caller, broker: Broker, model: str, payload: bytes, timeout_s: float
) -> AsyncGenerator[bytes, None]:
    """``broker.stream`` for ``caller`` (admitted under its limits, its usage recorded) with
    the time to its first chunk and its outcome in the metrics."""
    started = time.perf_counter()
    first = True
    outcome = "disconnected"
    try:
        async with (
            caller.serving(model, 1),
            contextlib.aclosing(broker.stream(model, payload, timeout_s)) as chunks,
        ):
            async for chunk in chunks:
                if first:
                    metrics.TIME_TO_FIRST_CHUNK.labels(model).observe(time.perf_counter() - started)
                    first = False
                yield chunk
        outcome = "completed"
    except Exception:
        outcome = "failed"
        raise
    finally:  # closed early (GeneratorExit) or cancelled: the client went away
        metrics.STREAMS.labels(model, outcome).inc()


class EventStream(Response):
    """Relays ``events`` (each a complete SSE event) to the client as they come.

    ``error_response(exc)`` answers an error raised before the first event (``None``: an
    unexpected failure, already logged); ``error_event(exc)`` is the last event of a stream
    that failed after it began.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: Events,
        error_response: Callable[[ScaleserveError | None], Response],
        error_event: Callable[[ScaleserveError | None], bytes],
        ping_s: float = 15.0,
    ) -> None:
        super().__init__()
        self._events = events
        self._error_response = error_response
        self._error_event = error_event
        self._ping_s = ping_s
        self._last_sent = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.create_task(self._relay(scope, receive, send))
        gone = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # the client left: closing the events stops the worker
            await stop_tasks((gone, relay))

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with contextlib.aclosing(self._events) as events:
            try:
                first = await anext(events, b"")
            except Exception as exc:
                await self._error_response(_known(exc))(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            pinger = asyncio.create_task(self._ping(send))
            try:
                await self._send(send, first)
                async for event in events:
                    await self._send(send, event)
            except Exception as exc:
                await self._send(send, self._error_event(_known(exc)))
            finally:
                await stop_task(pinger)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send(self, send: Send, event: bytes) -> None:
        self._last_sent = time.monotonic()
        await send({"type": "http.response.body", "body": event, "more_body": True})

    async def _ping(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self._ping_s)
            if time.monotonic() - self._last_sent >= self._ping_s:
                await self._send(send, PING)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _known(exc: Exception) -> ScaleserveError | None:
    """The error to tell the client; anything not ours is a bug, logged here."""
    if isinstance(exc, ScaleserveError):
        return exc
    log.error("a stream failed unexpectedly", exc_info=exc)
    return None
