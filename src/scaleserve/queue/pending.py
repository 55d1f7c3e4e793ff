"""The gateway's table of requests waiting for their items' results, and of streams waiting
for their chunks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

from scaleserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelFailed,
    ScaleserveError,
    ServingError,
)
from scaleserve.queue.meter import Meter, current_meter
from scaleserve.types import FailureKind, ItemResult


class PendingRequest:
    """One request's items in flight; ``wait()`` returns their outputs in order."""

    __slots__ = (
        "_future",
        "_outputs",
        "_remaining",
        "_table",
        "_timer",
        "item_ids",
        "meter",
        "model",
    )

    def __init__(self, table: PendingTable, model: str, item_ids: list[int]) -> None:
        self._table = table
        self.model = model
        self.item_ids = item_ids
        self.meter: Meter | None = current_meter()
        self._outputs: list[bytes] = [b""] * len(item_ids)
        self._remaining = len(item_ids)
        loop = asyncio.get_running_loop()
        self._future: asyncio.Future[list[bytes]] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self, timeout_s: float) -> list[bytes]:
        """The outputs, or the first failure; ``DeadlineExceeded`` after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout_s, self.fail, DeadlineExceeded(timeout_s))
        try:
            return await self._future
        finally:
            self._timer.cancel()
            self._table.forget(self)

    def set_output(self, index: int, output: bytes) -> None:
        if self._outputs[index]:
            return  # a repeated result (a retried or late reply) counts once
        self._outputs[index] = output
        self._remaining -= 1
        if self._remaining == 0 and not self._future.done():
            self._future.set_result(self._outputs)

    def fail(self, error: ScaleserveError) -> None:
        if not self._future.done():
            self._future.set_exception(error)


class PendingStream:
    """One streamed item in flight: its chunks in arrival order, then its end.

    ``answered`` turns true when the worker's result arrives; a stream closed before that
    (its client left, or its deadline passed) still runs in a worker, which must be told.
    """

    __slots__ = ("_ended", "_entries", "_table", "_timer", "answered", "item_id", "meter", "model")

    def __init__(self, table: PendingTable, model: str, item_id: int, timeout_s: float) -> None:
        self._table = table
        self.model = model
        self.item_id = item_id
        self.meter: Meter | None = current_meter()
        self.answered = False
        self._ended = False
        self._entries: asyncio.Queue[bytes | _End] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout_s, self.end, DeadlineExceeded(timeout_s))

    async def next(self) -> bytes | None:
        """The next chunk; ``None`` once the stream ended well; raises its failure."""
        entry = await self._entries.get()
        if isinstance(entry, bytes):
            return entry
        self._entries.put_nowait(entry)  # the end stays the end for any later call
        if entry.error is not None:
            raise entry.error
        return None

    def push(self, chunk: bytes) -> None:
        if not self._ended:
            self._entries.put_nowait(chunk)

    def end(self, error: ScaleserveError | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._entries.put_nowait(_End(error))

    def close(self) -> None:
        """Stop waiting: cancel the deadline and forget the stream."""
        self._timer.cancel()
        self._table.forget_stream(self)


class _End:
    __slots__ = ("error",)

    def __init__(self, error: ScaleserveError | None) -> None:
        self.error = error


class PendingTable:
    """Maps each item id to its request and position (or to its stream), across all models."""

    def __init__(self) -> None:
        self._by_item: dict[int, tuple[PendingRequest, int]] = {}
        self._streams: dict[int, PendingStream] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_item) + len(self._streams)

    def open(self, model: str, count: int) -> PendingRequest:
        ids = [next(self._ids) for _ in range(count)]
        request = PendingRequest(self, model, ids)
        for index, item_id in enumerate(ids):
            self._by_item[item_id] = (request, index)
        return request

    def open_stream(self, model: str, timeout_s: float) -> PendingStream:
        stream = PendingStream(self, model, next(self._ids), timeout_s)
        self._streams[stream.item_id] = stream
        return stream

    def model_of(self, item_id: int) -> str | None:
        """The model an item waited on is for (``None``: forgotten, or never here)."""
        entry = self._by_item.get(item_id)
        if entry is not None:
            return entry[0].model
        stream = self._streams.get(item_id)
        return stream.model if stream is not None else None

    def forget(self, request: PendingRequest) -> None:
        for item_id in request.item_ids:
            self._by_item.pop(item_id, None)

    def forget_stream(self, stream: PendingStream) -> None:
        self._streams.pop(stream.item_id, None)

    def push_chunk(self, item_id: int, chunk: bytes) -> None:
        stream = self._streams.get(item_id)
        if stream is not None:
            stream.push(chunk)

    def resolve(self, result: ItemResult) -> None:
        """Record one item's outcome; results for forgotten requests are ignored."""
        entry = self._by_item.get(result.id)
        if entry is None:
            self._end_stream(result)
            return
        request, index = entry
        if request.meter is not None:
            request.meter.compute_s += result.compute_s
        if result.output is not None:
            request.set_output(index, result.output)
        else:
            request.fail(_failure_error(request.model, result))

    def fail(self, item_ids: Iterable[int], error: ServingError) -> None:
        for item_id in item_ids:
            entry = self._by_item.get(item_id)
            if entry is not None:
                entry[0].fail(error)
            elif (stream := self._streams.get(item_id)) is not None:
                stream.end(error)

    def _end_stream(self, result: ItemResult) -> None:
        stream = self._streams.get(result.id)
        if stream is None:
            return
        stream.answered = True
        if stream.meter is not None:
            stream.meter.compute_s += result.compute_s
        stream.end(None if result.failure is None else _failure_error(stream.model, result))


def _failure_error(model: str, result: ItemResult) -> ScaleserveError:
    message = result.error or "unknown failure"
    if result.failure is FailureKind.EXPIRED:
        return DeadlineExceeded()
    if result.failure is FailureKind.INPUT:
        return InvalidInput(f"model {model!r} rejected an input item: {message}")
    return ModelFailed(model, message)
