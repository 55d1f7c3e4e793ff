"""What the queue tests share: a started broker, a worker loop on the embedded queue, and
JSON payloads."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import TypeVar

import orjson

import scaleserve
from scaleserve.model.spec import ModelSpec
from scaleserve.queue import frames
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.embedded_source import EmbeddedWorkSource
from scaleserve.queue.broker import Broker
from scaleserve.worker.loop import batch_policy, work_loop
from scaleserve.worker.runner import ModelRunner
from tests.helpers import until

B = TypeVar("B", bound=Broker)


@contextlib.asynccontextmanager
async def started(broker: B) -> AsyncIterator[B]:
    """``broker``, started, and closed on the way out."""
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


@contextlib.asynccontextmanager
async def embedded_worker(
    broker: EmbeddedBroker, model: scaleserve.Model, spec: ModelSpec
) -> AsyncIterator[EmbeddedWorkSource]:
    """A worker loop running ``model`` in this event loop, linked to ``broker`` and ready."""
    hello = frames.Hello(spec.name, spec.version, threading.get_native_id(), 0)
    source = await EmbeddedWorkSource.connect(broker.socket_path, hello)
    task = asyncio.create_task(work_loop(source, ModelRunner(spec, model), batch_policy(spec)))
    await until(lambda: broker.ready_workers(spec.name) > 0)
    try:
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
        await source.close()


def payloads(*values: int) -> list[bytes]:
    return [orjson.dumps(v) for v in values]
