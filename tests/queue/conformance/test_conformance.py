"""What every queue backend must do, proved against each of them (embedded, Redis,
RabbitMQ, NATS JetStream) with real worker processes: batching, deadlines, streaming,
redelivery after ``kill -9``, poison items to dead letters, no loss of accepted work, a
graceful drain, and a bound that admits a request whole or not at all.

The embedded queue lives in its gateway and hands a dead worker's items to nobody: there
the request fails with ``WorkerLost`` instead, as ``Broker.submit`` allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from scaleserve.errors import DeadlineExceeded, ModelFailed, Overloaded, WorkerLost
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import message_broker
from scaleserve.queue.broker import Broker
from tests.queue.conformance.backends import Backend
from tests.queue.conformance.conftest import RunLog, Workers, eventually


def job(x: int, **fields: Any) -> bytes:
    return orjson.dumps({"x": x, **fields})


@contextlib.asynccontextmanager
async def ready(
    backend: Backend, spec: ModelSpec, workers: Workers, count: int = 1
) -> AsyncIterator[Broker]:
    """The gateway, with ``count`` workers taking work."""
    async with backend.gateway(spec) as broker:
        await workers.start(count)
        await eventually(lambda: broker.ready_workers("work") >= count, timeout_s=60)
        yield broker


async def test_items_queued_together_run_in_batches_and_come_back_in_order(
    backend: Backend, spec: ModelSpec, workers: Workers
) -> None:
    async with ready(backend, spec, workers) as broker:
        outputs = [
            orjson.loads(o) for o in await broker.submit("work", [job(x) for x in range(8)], 30)
        ]
    assert [o["x"] for o in outputs] == list(range(8))
    assert max(o["batch"] for o in outputs) > 1
    assert max(o["batch"] for o in outputs) <= spec.max_batch_size


async def test_an_item_past_its_deadline_fails_and_is_never_run(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    async with backend.gateway(spec) as broker:
        with pytest.raises(DeadlineExceeded):
            await broker.submit("work", [job(1)], timeout_s=0.3)  # no worker yet
        await workers.start()
        # queued after the expired item: once it ran, the worker has passed the expired one
        [later] = await broker.submit("work", [job(2)], timeout_s=60)
    assert orjson.loads(later)["x"] == 2
    assert run_log.pid_of("start 1") is None


async def test_chunks_stream_in_order_and_a_closed_stream_stops_its_worker(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    async with ready(backend, spec, workers) as broker:
        chunks = [orjson.loads(c) async for c in broker.stream("work", job(3), 30)]
        assert chunks == [0, 1, 2]
        endless = broker.stream("work", job(1000, sleep_s=0.02), 60)  # 20 s if not stopped
        assert orjson.loads(await anext(endless)) == 0
        assert orjson.loads(await anext(endless)) == 1
        await endless.aclose()
        # the only worker is free again long before the stream would have ended
        [after] = await broker.submit("work", [job(5)], timeout_s=10)
    assert orjson.loads(after)["x"] == 5
    assert run_log.pid_of("streamed 1000") is None


async def test_an_item_whose_worker_is_killed_runs_again_elsewhere(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    async with ready(backend, spec, workers) as broker:
        answer = asyncio.create_task(broker.submit("work", [job(1, sleep_s=2)], 60))
        killed = await run_log.wait_for("start 1")
        workers.kill(killed)
        if not backend.redelivers:
            with pytest.raises(WorkerLost):
                await answer
            return
        [output] = await answer
    assert orjson.loads(output)["pid"] != killed


async def test_no_accepted_item_is_lost_when_a_worker_dies(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    async with ready(backend, spec, workers, count=2) as broker:
        requests = [broker.submit("work", [job(x, sleep_s=0.2)], 60) for x in range(12)]
        answers = asyncio.gather(*requests, return_exceptions=True)
        await eventually(lambda: any(line.startswith("start") for line in run_log.lines()))
        first = run_log.lines()[0].split()
        workers.kill(int(first[-1]))
        results = await answers
    for x, result in enumerate(results):
        if isinstance(result, WorkerLost) and not backend.redelivers:
            continue  # held by the dead worker: the embedded queue says so, never silently
        assert not isinstance(result, BaseException), f"item {x}: {result!r}"
        assert orjson.loads(result[0])["x"] == x


async def test_a_poison_item_goes_to_the_dead_letters_and_fails_its_request(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    async with ready(backend, spec, workers) as broker:
        if not backend.redelivers:
            with pytest.raises(WorkerLost):
                await broker.submit("work", [job(1, crash=True)], 60)
            return
        with pytest.raises(ModelFailed, match="delivered 3 times"):
            await broker.submit("work", [job(1, crash=True)], 90)
        # the healthy go on
        [output] = await broker.submit("work", [job(2)], 60)
    assert orjson.loads(output)["x"] == 2
    assert await backend.dead_letters("work") == 1
    assert sum(line.startswith("start 1 ") for line in run_log.lines()) == 2


async def test_a_draining_worker_finishes_what_it_holds_and_loses_nothing(
    backend: Backend, spec: ModelSpec, workers: Workers, run_log: RunLog
) -> None:
    """SIGTERM: the batch in hand is answered, the worker exits 0, and an item queued
    meanwhile is answered too (by the draining worker, if it was already handed to it,
    else by a fresh one: never lost)."""
    async with ready(backend, spec, workers) as broker:
        held = asyncio.create_task(broker.submit("work", [job(1, sleep_s=1.5)], 60))
        draining = await run_log.wait_for("start 1")
        queued = asyncio.create_task(broker.submit("work", [job(2)], 60))
        workers.kill(draining, signal.SIGTERM)
        [finished] = await held
        assert orjson.loads(finished)["pid"] == draining
        assert await workers.exited(draining) == 0
        if not queued.done():
            await workers.start()
        [later] = await queued
    assert orjson.loads(later)["x"] == 2


async def test_a_request_past_the_bound_is_refused_whole_and_none_of_it_runs(
    backend: Backend,
    spec: ModelSpec,
    workers: Workers,
    run_log: RunLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two gateways fill one queue: the second's view of the queue is stale (RabbitMQ and
    NATS read it once here), so the broker itself refuses its request part-way; what it
    had taken is withdrawn, and the workers, started after, never run any of it."""
    monkeypatch.setattr(message_broker, "STATS_INTERVAL_S", 3600.0)
    first_items = spec.max_queue_items - 3
    async with backend.gateway(spec) as first, contextlib.AsyncExitStack() as stack:
        second = (
            first
            if backend.name == "embedded"
            else await stack.enter_async_context(backend.gateway(spec))
        )  # the embedded queue has one gateway
        waiting = asyncio.create_task(
            first.submit("work", [job(x) for x in range(first_items)], 120)
        )
        await eventually(lambda: first.depth("work") == first_items)
        while await backend.queued("work") not in (None, first_items):  # noqa: ASYNC110 - all confirmed, in the broker
            await asyncio.sleep(0.05)
        # far past the room left; a RabbitMQ quorum queue checks its bound a little behind
        # the publishes and may take a whole burst: then the request is admitted whole
        refused = asyncio.create_task(
            second.submit("work", [job(1000 + x) for x in range(40)], 120)
        )
        await asyncio.wait([refused], timeout=5)
        await workers.start()
        outputs = await waiting
        [after] = await second.submit("work", [job(2000)], 60)  # behind the withdrawn items
        outcome = (await asyncio.gather(refused, return_exceptions=True))[0]
    assert [orjson.loads(o)["x"] for o in outputs] == list(range(first_items))
    assert orjson.loads(after)["x"] == 2000
    ran = {int(line.split()[1]) for line in run_log.lines() if line.startswith("start ")}
    theirs = {x for x in ran if 1000 <= x < 2000}
    if isinstance(outcome, Overloaded):
        assert not theirs, "a refused request's items ran"
    else:
        assert backend.name == "rabbitmq", f"admitted past the bound: {outcome!r}"
        assert not isinstance(outcome, BaseException), outcome
        assert theirs == set(range(1000, 1040))  # admitted whole, and run whole
