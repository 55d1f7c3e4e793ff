"""A deadline on a request's body: a client that trickles its body (slowloris) or stalls
mid-way holds a request for at most ``timeout_s``, then gets 408 and its connection closed.

uvicorn bounds the wait between requests on a kept-alive connection, not the time a body
takes to arrive; every route reads its body through the ``receive`` that the gateway wraps
here, so one place covers them all. Once the body is whole, ``receive`` passes through
untimed: a streaming response waits on it for the client's disconnect, however long.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive

from scaleserve.errors import BodyTimeout


class BodyDeadline:
    """``receive`` for one request whose body must arrive whole within ``timeout_s`` of
    the request's start; ``BodyTimeout`` once it has not."""

    __slots__ = ("_deadline", "_receive", "_timeout_s", "_whole")

    def __init__(self, receive: Receive, timeout_s: float) -> None:
        self._receive = receive
        self._timeout_s = timeout_s
        self._deadline = asyncio.get_running_loop().time() + timeout_s
        self._whole = False

    async def __call__(self) -> Message:
        if self._whole:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeout(self._timeout_s) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._whole = True
        return message
