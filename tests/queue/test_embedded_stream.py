"""Streaming through the embedded broker and a worker loop in one event loop, over a real
Unix socket: chunks as produced, cancellation both ways, failures, and no batching."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

import scaleserve
from scaleserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelFailed,
    Overloaded,
    WorkerLost,
)
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.embedded_source import EmbeddedWorkSource
from tests.helpers import until
from tests.queue.helpers import embedded_worker, started


class Words(scaleserve.Model):
    """Streams ``n`` words; ``n`` of -1 raises after one word, -2 yields a bad chunk.

    ``gate`` holds the generator after its first word; ``closed`` is set when the generator
    is closed, and ``produced`` counts what it yielded; ``batches`` records predict calls.
    """

    name = "words"
    max_batch_size = 8
    max_wait_ms = 50  # would keep a batch open for company: a stream must not wait for it
    max_queue_items = 6

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.closed = asyncio.Event()
        self.started = asyncio.Event()
        self.produced = 0
        self.batches: list[list[int]] = []

    def predict(self, batch: list[int]) -> list[int]:
        self.batches.append(list(batch))
        return batch

    async def predict_stream(self, item: int) -> AsyncIterator[str]:
        self.started.set()
        try:
            for index in range(item if item >= 0 else 10**9):
                if index == 1 and item == -1:
                    raise RuntimeError("broke mid-stream")
                if index == 1 and item == -2:
                    yield 42  # type: ignore[misc]  # not a str: the worker must catch it
                self.produced += 1
                yield f"w{index}"
                if self.gate is not None:
                    await self.gate.wait()
                await asyncio.sleep(0)
        finally:
            self.closed.set()


class SyncWords(scaleserve.Model):
    name = "syncwords"

    def predict(self, batch: list[int]) -> list[int]:
        return batch

    def predict_stream(self, item: int) -> Iterator[int]:
        yield from range(item)


SPEC = ModelSpec.from_class(Words)
SYNC_SPEC = ModelSpec.from_class(SyncWords)


def broker_at(tmp_path: Path) -> contextlib.AbstractAsyncContextManager[EmbeddedBroker]:
    return started(EmbeddedBroker(str(tmp_path / "q.sock"), [SPEC, SYNC_SPEC]))


def worker(
    broker: EmbeddedBroker, model: scaleserve.Model, spec: ModelSpec = SPEC
) -> contextlib.AbstractAsyncContextManager[EmbeddedWorkSource]:
    return embedded_worker(broker, model, spec)


async def collect(broker: EmbeddedBroker, model: str, item: int, timeout_s: float = 10) -> list:
    return [orjson.loads(c) async for c in broker.stream(model, orjson.dumps(item), timeout_s)]


async def test_chunks_arrive_while_the_model_is_still_generating(tmp_path: Path) -> None:
    model = Words()
    model.gate = asyncio.Event()  # the generator stops after its first word until opened
    async with broker_at(tmp_path) as broker, worker(broker, model):
        stream = broker.stream("words", b"3", timeout_s=10)
        assert await anext(stream) == b'"w0"'
        assert model.produced == 1 and not model.closed.is_set()
        model.gate.set()
        assert [c async for c in stream] == [b'"w1"', b'"w2"']
    assert model.closed.is_set()


async def test_sync_generators_stream_too(tmp_path: Path) -> None:
    async with broker_at(tmp_path) as broker, worker(broker, SyncWords(), SYNC_SPEC):
        assert await collect(broker, "syncwords", 4) == [0, 1, 2, 3]
        assert await collect(broker, "syncwords", 0) == []


async def test_closing_the_stream_stops_the_generator_and_frees_the_worker(
    tmp_path: Path,
) -> None:
    model = Words()
    async with broker_at(tmp_path) as broker, worker(broker, model):
        stream = broker.stream("words", b"1000000000", timeout_s=10)
        assert await anext(stream) == b'"w0"'
        await stream.aclose()  # the reader went away
        await asyncio.wait_for(model.closed.wait(), timeout=10)
        await until(lambda: broker.depth("words") == 0)
        assert model.produced < 1000
        assert await broker.submit("words", [b"7"], timeout_s=10) == [b"7"]


async def test_a_stream_cancelled_while_queued_never_runs(tmp_path: Path) -> None:
    model = Words()
    async with broker_at(tmp_path) as broker:
        reader = asyncio.create_task(collect(broker, "words", 3))
        await until(lambda: broker.queued("words") == 1)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        async with worker(broker, model):
            assert await broker.submit("words", [b"1"], timeout_s=10) == [b"1"]
            await until(lambda: broker.depth("words") == 0)
    assert not model.started.is_set()


async def test_failures_before_and_after_the_first_chunk(tmp_path: Path) -> None:
    async with broker_at(tmp_path) as broker, worker(broker, Words()):
        with pytest.raises(InvalidInput):
            await collect(broker, "words", "not a number")  # type: ignore[arg-type]
        stream = broker.stream("words", b"-1", timeout_s=10)
        assert await anext(stream) == b'"w0"'
        with pytest.raises(ModelFailed, match="RuntimeError: broke mid-stream"):
            await anext(stream)
        with pytest.raises(ModelFailed, match="invalid chunk"):
            await collect(broker, "words", -2)
        assert await collect(broker, "words", 2) == ["w0", "w1"]  # the worker lives on


async def test_deadline_ends_the_stream_and_stops_the_generator(tmp_path: Path) -> None:
    model = Words()
    model.gate = asyncio.Event()  # never opened: the stream outlives its deadline
    async with broker_at(tmp_path) as broker, worker(broker, model):
        stream = broker.stream("words", b"5", timeout_s=1.0)
        assert await anext(stream) == b'"w0"'
        with pytest.raises(DeadlineExceeded):
            await anext(stream)
        model.gate.set()
        await asyncio.wait_for(model.closed.wait(), timeout=10)
        assert model.produced < 5


async def test_a_lost_worker_fails_its_stream(tmp_path: Path) -> None:
    model = Words()
    model.gate = asyncio.Event()
    async with broker_at(tmp_path) as broker:
        stream = broker.stream("words", b"5", timeout_s=10)
        async with worker(broker, model):
            assert await anext(stream) == b'"w0"'
        with pytest.raises(WorkerLost):
            await anext(stream)


async def test_streams_count_against_the_queue_bound(tmp_path: Path) -> None:
    async with broker_at(tmp_path) as broker:  # no worker: everything stays queued
        waiting = asyncio.create_task(broker.submit("words", [b"1"] * 6, 10))
        await until(lambda: broker.queued("words") == 6)
        with pytest.raises(Overloaded):
            await collect(broker, "words", 1)
        waiting.cancel()


async def test_streamed_items_are_never_batched(tmp_path: Path) -> None:
    model = Words()
    model.gate = asyncio.Event()
    async with broker_at(tmp_path) as broker, worker(broker, model):
        busy = broker.stream("words", b"2", timeout_s=10)  # holds the worker
        assert await anext(busy) == b'"w0"'
        queued = [
            asyncio.create_task(broker.submit("words", [b"1", b"2"], 10)),
            asyncio.create_task(collect(broker, "words", 1)),
            asyncio.create_task(collect(broker, "words", 1)),
            asyncio.create_task(broker.submit("words", [b"3"], 10)),
        ]
        await until(lambda: broker.queued("words") == 5)
        model.gate.set()
        assert [c async for c in busy] == [b'"w1"']
        results = await asyncio.gather(*queued)
    assert results == [[b"1", b"2"], ["w0"], ["w0"], [b"3"]]
    assert model.batches == [[1, 2], [3]]
