"""The worker's main loop: batch, run, reply, until the source closes.

Streamed items are never batched: each runs alone through ``predict_stream`` after the
batch it arrived with, its chunks sent as the model yields them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import WorkSource
from scaleserve.types import WorkItem
from scaleserve.worker.batcher import Batcher, BatchPolicy
from scaleserve.worker.runner import ModelRunner

Read = Callable[[int, float | None], Awaitable[list[WorkItem]]]


def batch_policy(spec: ModelSpec) -> BatchPolicy:
    return BatchPolicy(max_items=spec.max_batch_size, max_wait_s=spec.max_wait_ms / 1000)


async def work_loop(
    source: WorkSource,
    runner: ModelRunner,
    policy: BatchPolicy,
    clock: Callable[[], float] = time.time,
) -> None:
    """Serve batches from ``source`` until it closes; every item read gets a result."""
    read = StreamAwareRead(source.read)
    batcher = Batcher(read, policy, clock)
    while True:
        batch = await batcher.next_batch()
        if batch and not read.holds_stream:
            await source.reply(await runner.run(batch))
        elif batch:
            await _run_with_streams(batch, source, runner)
        if source.closing:
            return


async def _run_with_streams(batch: list[WorkItem], source: WorkSource, runner: ModelRunner) -> None:
    streams = [item for item in batch if item.stream]
    rest = [item for item in batch if not item.stream]
    if rest:
        await source.reply(await runner.run(rest))
    for item in streams:
        await source.reply([await runner.stream(item, source.send_chunk)])


class StreamAwareRead:
    """Wraps a source's ``read`` so that a batch holding a streamed item closes at once: the
    stream runs alone anyway, and waiting for company would only delay its first chunk.

    The batcher starts each batch with a read without a timeout and fills it with timed
    reads; a timed read after a streamed item arrived returns nothing, closing the batch.
    """

    def __init__(self, read: Read) -> None:
        self._read = read
        self.holds_stream = False
        """The batch being read holds a streamed item."""

    async def __call__(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        if timeout_s is None:
            self.holds_stream = False
        elif self.holds_stream:
            return []
        items = await self._read(max_items, timeout_s)
        if any(item.stream for item in items):
            self.holds_stream = True
        return items
