from __future__ import annotations

import asyncio

from scaleserve.queue.model_queue import ModelQueue, Puller
from scaleserve.types import WorkItem


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def item(item_id: int, deadline: float = 2000.0) -> WorkItem:
    return WorkItem(item_id, b"0", deadline, 999.0)


def puller(max_items: int) -> tuple[Puller, list[list[int]]]:
    got: list[list[int]] = []
    return Puller(max_items, lambda items: got.append([i.id for i in items])), got


async def test_parked_puller_gets_items_as_they_arrive() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    parked, got = puller(4)
    queue.pull(parked, timeout_s=None)
    assert got == []
    queue.put([item(1), item(2)])
    assert got == [[1, 2]]


async def test_pull_takes_at_most_max_items_in_order() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    queue.put([item(n) for n in range(5)])
    first, got = puller(3)
    queue.pull(first, timeout_s=None)
    second, got2 = puller(3)
    queue.pull(second, timeout_s=None)
    assert got == [[0, 1, 2]] and got2 == [[3, 4]]


async def test_expired_items_are_never_handed_out() -> None:
    clock = Clock()
    queue = ModelQueue("m", bound=10, clock=clock)
    queue.put([item(1, deadline=1001.0), item(2, deadline=3000.0)])
    clock.now = 1002.0
    parked, got = puller(8)
    queue.pull(parked, timeout_s=None)
    assert got == [[2]]


async def test_pull_times_out_with_an_empty_answer() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    answered = asyncio.Event()
    got: list[int] = []

    def deliver(items: list[WorkItem]) -> None:
        got.append(len(items))
        answered.set()

    queue.pull(Puller(4, deliver), timeout_s=0.01)
    await asyncio.wait_for(answered.wait(), 5)
    assert got == [0]


async def test_zero_timeout_answers_at_once_even_when_empty() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    parked, got = puller(4)
    queue.pull(parked, timeout_s=0)
    assert got == [[]]


async def test_bound_counts_queued_and_in_flight_and_frees_expired_room() -> None:
    clock = Clock()
    queue = ModelQueue("m", bound=3, clock=clock)
    queue.put([item(1, deadline=1001.0), item(2)])
    queue.in_flight = 1
    assert queue.depth == 3
    assert not queue.has_room(1)
    clock.now = 1002.0  # item 1 expired: its room comes back
    assert queue.has_room(1)


async def test_released_puller_is_not_answered() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    parked, got = puller(4)
    queue.pull(parked, timeout_s=None)
    assert queue.release(parked)
    queue.put([item(1)])
    assert got == []
    assert queue.queued == 1


def streamed(item_id: int) -> WorkItem:
    return WorkItem(item_id, b"0", 2000.0, 999.0, stream=True)


async def test_a_streamed_item_is_taken_alone() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    queue.put([item(1), item(2), streamed(3), streamed(4), item(5)])
    takes = []
    for _ in range(4):
        parked, got = puller(8)
        queue.pull(parked, timeout_s=0)
        takes.extend(got)
    assert takes == [[1, 2], [3], [4], [5]]


async def test_discard_takes_a_queued_item_out() -> None:
    queue = ModelQueue("m", bound=10, clock=Clock())
    queue.put([item(1), streamed(2), item(3)])
    assert queue.discard(2)
    assert not queue.discard(2)
    assert queue.depth == 2
    parked, got = puller(8)
    queue.pull(parked, timeout_s=0)
    assert got == [[1, 3]]
