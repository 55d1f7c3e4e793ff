"""The batcher is pure logic: a scripted source and a fake clock, no sleeping."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest

from scaleserve.worker.batcher import Batcher, BatchPolicy


@dataclass(frozen=True)
class Item:
    name: str
    enqueued_at: float


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """Answers each read from a script of (items, seconds the read takes)."""

    def __init__(self, clock: FakeClock, script: list[tuple[list[Item], float]]) -> None:
        self.clock = clock
        self.script = deque(script)
        self.reads: list[tuple[int, float | None]] = []

    async def read(self, max_items: int, timeout_s: float | None) -> list[Item]:
        self.reads.append((max_items, timeout_s))
        items, elapsed_s = self.script.popleft()
        assert len(items) <= max_items, "the source was asked for fewer items than scripted"
        if timeout_s is not None:
            assert elapsed_s <= timeout_s + 1e-9, "a read took longer than its timeout"
        self.clock.now += elapsed_s
        return items


def items(count: int, at: float, prefix: str = "i") -> list[Item]:
    return [Item(f"{prefix}{n}", at) for n in range(count)]


async def test_full_queue_gives_a_full_batch_without_waiting() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, [(items(4, at=99.0), 0.0)])
    batch = await Batcher(
        source.read, BatchPolicy(max_items=4, max_wait_s=0.05), clock
    ).next_batch()
    assert len(batch) == 4
    assert source.reads == [(4, None)]


async def test_partial_batch_waits_for_more_until_max_items() -> None:
    clock = FakeClock()
    source = ScriptedSource(
        clock,
        [
            (items(1, at=100.0, prefix="a"), 0.0),
            (items(2, at=100.01, prefix="b"), 0.01),
            (items(1, at=100.02, prefix="c"), 0.01),
        ],
    )
    batch = await Batcher(
        source.read, BatchPolicy(max_items=4, max_wait_s=0.05), clock
    ).next_batch()
    assert [i.name for i in batch] == ["a0", "b0", "b1", "c0"]
    # each follow-up read asks only for the room left, and only for the time left
    assert source.reads[1][0] == 3 and source.reads[2][0] == 1
    assert source.reads[1][1] == pytest.approx(0.05)
    assert source.reads[2][1] == pytest.approx(0.04)


async def test_batch_closes_when_the_wait_runs_out() -> None:
    clock = FakeClock()
    source = ScriptedSource(
        clock,
        [
            (items(1, at=100.0), 0.0),
            ([], 0.05),  # nothing more arrives within max_wait
        ],
    )
    batch = await Batcher(
        source.read, BatchPolicy(max_items=8, max_wait_s=0.05), clock
    ).next_batch()
    assert len(batch) == 1
    assert clock.now == pytest.approx(100.05)


async def test_wait_counts_from_the_oldest_item_not_from_the_read() -> None:
    clock = FakeClock()
    # the item has already waited 30 ms in the queue while the previous batch ran
    source = ScriptedSource(clock, [(items(1, at=99.97), 0.0), ([], 0.02)])
    await Batcher(source.read, BatchPolicy(max_items=8, max_wait_s=0.05), clock).next_batch()
    assert source.reads[1][1] == pytest.approx(0.02)


async def test_item_older_than_max_wait_runs_at_once() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, [(items(2, at=90.0), 0.0)])
    batch = await Batcher(
        source.read, BatchPolicy(max_items=8, max_wait_s=0.05), clock
    ).next_batch()
    assert len(batch) == 2
    assert len(source.reads) == 1


async def test_clock_skew_cannot_stretch_the_wait() -> None:
    clock = FakeClock()
    # an item stamped in the future by a skewed clock must not hold the batch longer
    source = ScriptedSource(clock, [(items(1, at=130.0), 0.0), ([], 0.05)])
    await Batcher(source.read, BatchPolicy(max_items=8, max_wait_s=0.05), clock).next_batch()
    assert source.reads[1][1] == pytest.approx(0.05)


async def test_zero_wait_never_reads_twice() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, [(items(3, at=100.0), 0.0)])
    batch = await Batcher(source.read, BatchPolicy(max_items=8, max_wait_s=0.0), clock).next_batch()
    assert len(batch) == 3
    assert len(source.reads) == 1


async def test_closing_source_gives_an_empty_batch() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, [([], 0.0)])
    batch = await Batcher(
        source.read, BatchPolicy(max_items=8, max_wait_s=0.05), clock
    ).next_batch()
    assert batch == []
