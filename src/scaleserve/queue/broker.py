"""The seams of the queue part.

``Broker`` is what the gateway uses: put a request's items on a model's queue and await
their outputs. ``WorkSource`` is what a worker uses: read items, send results back.
Backends live in ``scaleserve.queue.backends``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from scaleserve.types import ItemResult, WorkItem


class Broker(Protocol):
    """Gateway side of the queue."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        """Queue one request's items (JSON each) and return their outputs (JSON each) in order.

        Raises ``Overloaded`` before queueing anything when the model's bound would be passed,
        ``DeadlineExceeded`` after ``timeout_s``, ``WorkerLost`` when the worker holding an
        item dies, ``ModelFailed`` when the model raised.
        """
        ...

    def stream(self, model: str, payload: bytes, timeout_s: float) -> AsyncGenerator[bytes, None]:
        """Run one item (JSON) through the model's ``predict_stream``; yield its chunks (JSON
        each) as the worker produces them. The item is never batched with others.

        Raises as ``submit`` does, from the iteration; ``timeout_s`` bounds the whole stream.
        Closing the iterator before its end (``aclose()``, or cancelling the task reading
        it) tells the worker to stop generating.
        """
        ...

    def depth(self, model: str) -> int:
        """Items of ``model`` queued or running."""
        ...

    def queued(self, model: str) -> int:
        """Items of ``model`` waiting for a worker."""
        ...

    def ready_workers(self, model: str) -> int:
        """Workers of ``model`` that are warm and taking work."""
        ...


class WorkSource(Protocol):
    """Worker side of the queue."""

    @property
    def closing(self) -> bool:
        """True once the source will hand out no more work."""
        ...

    async def read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        """Up to ``max_items`` items: at least one, unless ``timeout_s`` passes or it closes."""
        ...

    async def reply(self, results: list[ItemResult]) -> None: ...

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        """Send one chunk (JSON) of streamed item ``item_id`` on its way to the client.

        Raises ``StreamCancelled`` once the gateway has cancelled that stream.
        """
        ...

    def request_stop(self) -> None:
        """Ask for no more work; what was handed out still gets its results."""
        ...
