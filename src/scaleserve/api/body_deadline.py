"""A deadline on a request's body: a client that trickles its body (slowloris) or stalls
mid-way holds a request for at most ``timeout_s``, then gets 408 and its connection closed.

uvicorn bounds the wait between requests on a kept-alive connection, not the time a body
takes to arrive; every route reads its body through the ``receive`` that the gateway wraps
here, so one place covers them all. Once the body is whole, ``receive`` passes through
untimed: a streaming response waits on it for the client's disconnect, however long.

One timer per request, armed when it starts, not ``asyncio.timeout`` around each
``receive``: on the predict path that cost about a tenth of the gateway's CPU (py-spy).
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive

from scaleserve.errors import BodyTimeout

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyDeadline:
    """``receive`` for one request whose body must arrive whole within ``timeout_s`` of
    the request's start; ``BodyTimeout`` once it has not. ``close`` when the request ends."""

    __slots__ = ("_expired", "_receive", "_task", "_timeout_s", "_timer", "_waiting", "_whole")

    def __init__(self, receive: Receive, timeout_s: float) -> None:
        self._receive = receive
        self._timeout_s = timeout_s
        self._task = asyncio.current_task()
        self._timer = asyncio.get_running_loop().call_later(timeout_s, self._expire)
        self._expired = False
        self._waiting = False
        self._whole = False

    def close(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        self._expired = True
        if self._waiting and self._task is not None:
            self._task.cancel()

    async def __call__(self) -> Message:
        if self._whole:
            return await self._receive()
        if self._expired:
            raise BodyTimeout(self._timeout_s)
        self._waiting = True
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            # ours (the timer's), unless someone else cancelled the request too
            if not self._expired or self._task is None or self._task.uncancel() > 0:
                raise
            raise BodyTimeout(self._timeout_s) from None
        finally:
            self._waiting = False
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._whole = True
            self._timer.cancel()
        return message
