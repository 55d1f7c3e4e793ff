"""One model's queue in the gateway: bounded, with workers parked on it waiting for work."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from scaleserve.types import WorkItem

Deliver = Callable[[list[WorkItem]], None]
BATCH_SAMPLES = 128
"""Recent batches kept for the autoscaler's service curve."""


class Puller:
    """A worker's request for up to ``max_items`` items, answered once through ``deliver``."""

    __slots__ = ("deliver", "max_items", "timer")

    def __init__(self, max_items: int, deliver: Deliver) -> None:
        self.max_items = max_items
        self.deliver = deliver
        self.timer: asyncio.TimerHandle | None = None


class ModelQueue:
    """Items waiting for a worker of one model, and the workers waiting for items.

    ``in_flight`` counts items handed to workers and not yet answered; the bound applies to
    queued + in flight, so a slow model cannot hide an unbounded backlog.
    """

    def __init__(self, model: str, bound: int, clock: Callable[[], float] = time.time) -> None:
        self.model = model
        self.bound = bound
        self.in_flight = 0
        self.arrived = 0
        """Items ever put (for the autoscaler's arrival rate)."""
        self.completed = 0
        """Items ever answered by a worker."""
        self.busy_s = 0.0
        """Seconds its workers have spent holding items, all added up."""
        self.batches: deque[tuple[int, float]] = deque(maxlen=BATCH_SAMPLES)
        """(items, seconds) of its workers' recent batches, hand-out to answer."""
        self._clock = clock
        self._items: deque[WorkItem] = deque()
        self._pullers: deque[Puller] = deque()

    @property
    def depth(self) -> int:
        return len(self._items) + self.in_flight

    @property
    def queued(self) -> int:
        return len(self._items)

    def has_room(self, count: int) -> bool:
        if self.depth + count <= self.bound:
            return True
        self._drop_expired()
        return self.depth + count <= self.bound

    def put(self, items: list[WorkItem]) -> None:
        self.arrived += len(items)
        self._items.extend(items)
        while self._pullers:
            taken = self._take(self._pullers[0].max_items)
            if not taken:
                return
            self._answer(self._pullers.popleft(), taken)

    def pull(self, puller: Puller, timeout_s: float | None) -> None:
        """Answer ``puller`` now if items are queued, else park it until items or the timeout."""
        taken = self._take(puller.max_items)
        if taken or timeout_s == 0:
            self._answer(puller, taken)
            return
        if timeout_s is not None:
            loop = asyncio.get_running_loop()
            puller.timer = loop.call_later(timeout_s, self._time_out, puller)
        self._pullers.append(puller)

    def discard(self, item_id: int) -> bool:
        """Take a queued item out (nobody waits for it any more); False if it is not queued."""
        for index, item in enumerate(self._items):
            if item.id == item_id:
                del self._items[index]
                return True
        return False

    def release(self, puller: Puller) -> bool:
        """Unpark ``puller`` without answering it; False if it was not parked."""
        try:
            self._pullers.remove(puller)
        except ValueError:
            return False
        if puller.timer is not None:
            puller.timer.cancel()
        return True

    def _time_out(self, puller: Puller) -> None:
        if self.release(puller):
            puller.deliver([])

    @staticmethod
    def _answer(puller: Puller, items: list[WorkItem]) -> None:
        if puller.timer is not None:
            puller.timer.cancel()
        puller.deliver(items)

    def _take(self, max_items: int) -> list[WorkItem]:
        """Up to ``max_items`` items whose deadline has not passed; expired ones are dropped
        (their requests have already been answered with a deadline error). A streamed item
        is taken alone: it is never batched, and another worker may be free to run it."""
        now = self._clock()
        taken: list[WorkItem] = []
        while self._items and len(taken) < max_items:
            if self._items[0].stream and taken:
                break
            item = self._items.popleft()
            if item.deadline > now:
                taken.append(item)
                if item.stream:
                    break
        return taken

    def _drop_expired(self) -> None:
        now = self._clock()
        self._items = deque(item for item in self._items if item.deadline > now)
