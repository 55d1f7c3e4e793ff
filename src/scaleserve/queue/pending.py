"""The gateway's table of requests waiting for their items' results."""

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
from scaleserve.types import FailureKind, ItemResult


class PendingRequest:
    """One request's items in flight; ``wait()`` returns their outputs in order."""

    __slots__ = ("_future", "_outputs", "_remaining", "_table", "_timer", "item_ids", "model")

    def __init__(self, table: PendingTable, model: str, item_ids: list[int]) -> None:
        self._table = table
        self.model = model
        self.item_ids = item_ids
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
        self._outputs[index] = output
        self._remaining -= 1
        if self._remaining == 0 and not self._future.done():
            self._future.set_result(self._outputs)

    def fail(self, error: ScaleserveError) -> None:
        if not self._future.done():
            self._future.set_exception(error)


class PendingTable:
    """Maps each item id to its request and position, across all models."""

    def __init__(self) -> None:
        self._by_item: dict[int, tuple[PendingRequest, int]] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_item)

    def open(self, model: str, count: int) -> PendingRequest:
        ids = [next(self._ids) for _ in range(count)]
        request = PendingRequest(self, model, ids)
        for index, item_id in enumerate(ids):
            self._by_item[item_id] = (request, index)
        return request

    def forget(self, request: PendingRequest) -> None:
        for item_id in request.item_ids:
            self._by_item.pop(item_id, None)

    def resolve(self, result: ItemResult) -> None:
        """Record one item's outcome; results for forgotten requests are ignored."""
        entry = self._by_item.get(result.id)
        if entry is None:
            return
        request, index = entry
        if result.output is not None:
            request.set_output(index, result.output)
        else:
            request.fail(_failure_error(request.model, result))

    def fail(self, item_ids: Iterable[int], error: ServingError) -> None:
        for item_id in item_ids:
            entry = self._by_item.get(item_id)
            if entry is not None:
                entry[0].fail(error)


def _failure_error(model: str, result: ItemResult) -> ScaleserveError:
    message = result.error or "unknown failure"
    if result.failure is FailureKind.EXPIRED:
        return DeadlineExceeded()
    if result.failure is FailureKind.INPUT:
        return InvalidInput(f"model {model!r} rejected an input item: {message}")
    return ModelFailed(model, message)
