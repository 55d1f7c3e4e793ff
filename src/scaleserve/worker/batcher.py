"""Dynamic batching: pure logic over a source of queued items and an injected clock.

A batch starts with whatever the source holds (waiting as long as it takes for the
first item), then keeps reading until it holds ``max_items`` or until ``max_wait_s`` has
passed since the oldest item in it was queued. Items queued while the previous batch
was computing therefore run at once, and an idle model answers a lone request without
waiting for company it will not get unless ``max_wait_s`` asks for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Timestamped(Protocol):
    @property
    def enqueued_at(self) -> float: ...


T = TypeVar("T", bound=Timestamped)


@dataclass(frozen=True)
class BatchPolicy:
    max_items: int
    max_wait_s: float


class Batcher(Generic[T]):
    """Collects batches from ``read`` according to ``policy``, timed by ``clock``.

    ``read(max_items, timeout_s)`` returns up to ``max_items`` items, at least one unless the
    timeout (``None``: no timeout) passes first or the source is closing.
    """

    def __init__(
        self,
        read: Callable[[int, float | None], Awaitable[list[T]]],
        policy: BatchPolicy,
        clock: Callable[[], float],
    ) -> None:
        self._read = read
        self._policy = policy
        self._clock = clock

    async def next_batch(self) -> list[T]:
        """The next batch; empty only when the source is closing."""
        batch = await self._read(self._policy.max_items, None)
        if not batch:
            return batch
        close_at = self._close_time(batch)
        while len(batch) < self._policy.max_items:
            remaining_s = close_at - self._clock()
            if remaining_s <= 0:
                break
            more = await self._read(self._policy.max_items - len(batch), remaining_s)
            if not more:
                break
            batch.extend(more)
        return batch

    def _close_time(self, batch: list[T]) -> float:
        """When the batch must run: ``max_wait_s`` after its oldest item was queued.

        Clamped to [now, now + max_wait_s] so that a clock skew between the process that
        queued the item and this one can neither hold a batch longer nor skip the wait.
        """
        now = self._clock()
        oldest = min(item.enqueued_at for item in batch)
        return min(max(oldest + self._policy.max_wait_s, now), now + self._policy.max_wait_s)
