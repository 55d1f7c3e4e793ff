"""The embedded broker and a worker loop in one event loop, over a real Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import orjson
import pytest

import scaleserve
from scaleserve.errors import DeadlineExceeded, ModelFailed, Overloaded, WorkerLost
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.embedded_source import EmbeddedWorkSource
from tests.helpers import until
from tests.queue.helpers import embedded_worker, payloads, started


class Recorder(scaleserve.Model):
    """Records every batch it runs; an input of -1 raises; a gate can hold it."""

    name = "recorder"
    max_batch_size = 4
    max_wait_ms = 0
    max_queue_items = 6

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None

    async def predict(self, batch: list[int]) -> list[int]:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append(list(batch))
        if -1 in batch:
            raise RuntimeError("minus one")
        return [x * 10 for x in batch]


SPEC = ModelSpec.from_class(Recorder)


def broker_at(tmp_path: Path) -> contextlib.AbstractAsyncContextManager[EmbeddedBroker]:
    return started(EmbeddedBroker(str(tmp_path / "q.sock"), [SPEC]))


def worker(
    broker: EmbeddedBroker, model: Recorder
) -> contextlib.AbstractAsyncContextManager[EmbeddedWorkSource]:
    return embedded_worker(broker, model, SPEC)


async def one_then_three_together(
    tmp_path: Path, model: Recorder, three: tuple[int, int, int]
) -> list[object]:
    """Each request's answer (or error): a request of 1 alone, then three single-item
    requests queued while it runs, so the worker takes them as one batch."""
    model.gate = asyncio.Event()
    async with broker_at(tmp_path) as broker, worker(broker, model):
        first = asyncio.create_task(broker.submit("recorder", payloads(1), timeout_s=5))
        await until(lambda: broker.depth("recorder") - broker.queued("recorder") > 0)
        rest = [
            asyncio.create_task(broker.submit("recorder", payloads(n), timeout_s=5)) for n in three
        ]
        await until(lambda: broker.queued("recorder") >= 3)
        model.gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)


async def test_outputs_in_order_across_batches(tmp_path: Path) -> None:
    model = Recorder()
    async with broker_at(tmp_path) as broker, worker(broker, model):
        outputs = await broker.submit("recorder", payloads(1, 2, 3, 4, 5, 6), timeout_s=5)
    assert [orjson.loads(o) for o in outputs] == [10, 20, 30, 40, 50, 60]
    assert all(len(b) <= 4 for b in model.batches)
    assert sum(len(b) for b in model.batches) == 6


async def test_concurrent_requests_share_batches(tmp_path: Path) -> None:
    model = Recorder()
    answers = await one_then_three_together(tmp_path, model, (2, 3, 4))
    assert answers == [[b"10"], [b"20"], [b"30"], [b"40"]]
    assert model.batches == [[1], [2, 3, 4]]


async def test_model_error_fails_only_its_batch(tmp_path: Path) -> None:
    model = Recorder()
    async with broker_at(tmp_path) as broker, worker(broker, model):
        with pytest.raises(ModelFailed, match="RuntimeError: minus one"):
            await broker.submit("recorder", payloads(-1), timeout_s=5)
        assert await broker.submit("recorder", payloads(7), timeout_s=5) == [b"70"]


async def test_a_poison_item_fails_only_its_own_request(tmp_path: Path) -> None:
    """Requests batched with a failing item get their outputs: the worker splits the failed
    batch until the item that fails is alone."""
    model = Recorder()
    answers = await one_then_three_together(tmp_path, model, (2, -1, 4))
    assert answers[:2] == [[b"10"], [b"20"]]
    assert isinstance(answers[2], ModelFailed)
    assert answers[3] == [b"40"]
    assert model.batches[1] == [2, -1, 4]  # the shared batch failed, then its halves ran


async def test_queue_bound_refuses_before_queueing(tmp_path: Path) -> None:
    async with broker_at(tmp_path) as broker:  # no worker: everything stays queued
        waiting = asyncio.create_task(
            broker.submit("recorder", payloads(1, 2, 3, 4, 5), timeout_s=5)
        )
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await broker.submit("recorder", payloads(6, 7), timeout_s=5)
        assert broker.depth("recorder") == 5
        waiting.cancel()


async def test_items_past_their_deadline_never_run(tmp_path: Path) -> None:
    model = Recorder()
    async with broker_at(tmp_path) as broker:
        with pytest.raises(DeadlineExceeded):
            await broker.submit("recorder", payloads(1, 2), timeout_s=0.01)
        async with worker(broker, model):
            assert await broker.submit("recorder", payloads(3), timeout_s=5) == [b"30"]
    assert model.batches == [[3]]


async def test_lost_worker_fails_what_it_held_and_keeps_the_queue(tmp_path: Path) -> None:
    model = Recorder()
    model.gate = asyncio.Event()  # never opened: the worker holds its batch forever
    async with broker_at(tmp_path) as broker:
        async with worker(broker, model):
            held = asyncio.create_task(broker.submit("recorder", payloads(1, 2, 3, 4), timeout_s=5))
            await until(lambda: broker.depth("recorder") - broker.queued("recorder") >= 4)
            queued = asyncio.create_task(broker.submit("recorder", payloads(5), timeout_s=5))
            await until(lambda: broker.queued("recorder") >= 1)
        # the worker's connection is gone
        with pytest.raises(WorkerLost):
            await held
        assert broker.depth("recorder") == 1  # the queued item waits for the next worker
        async with worker(broker, Recorder()):
            assert await queued == [b"50"]


async def test_bye_drains_then_closes(tmp_path: Path) -> None:
    model = Recorder()
    async with broker_at(tmp_path) as broker, worker(broker, model) as source:
        assert await broker.submit("recorder", payloads(1), timeout_s=5) == [b"10"]
        source.request_stop()
        await until(lambda: broker.ready_workers("recorder") == 0)
        await until(lambda: source.closing)
