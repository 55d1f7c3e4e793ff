"""The worker's main loop: batch, run, reply, until the source closes."""

from __future__ import annotations

import time
from collections.abc import Callable

from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import WorkSource
from scaleserve.worker.batcher import Batcher, BatchPolicy
from scaleserve.worker.runner import ModelRunner


def batch_policy(spec: ModelSpec) -> BatchPolicy:
    return BatchPolicy(max_items=spec.max_batch_size, max_wait_s=spec.max_wait_ms / 1000)


async def work_loop(
    source: WorkSource,
    runner: ModelRunner,
    policy: BatchPolicy,
    clock: Callable[[], float] = time.time,
) -> None:
    """Serve batches from ``source`` until it closes; every item read gets a result."""
    batcher = Batcher(source.read, policy, clock)
    while True:
        batch = await batcher.next_batch()
        if batch:
            await source.reply(await runner.run(batch))
        if source.closing:
            return
