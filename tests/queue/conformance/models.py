"""The model the conformance suite's worker processes serve.

Each item is a ``Job``: its output says how big a batch it ran in and which process ran
it. Before running, a worker appends ``start <x> <pid>`` to the file named by
``SCALESERVE_CONFORMANCE_LOG`` (so tests can see what ran, and when), and an item with
``crash`` kills its worker at once, as ``kill -9`` would.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from pydantic import BaseModel

import scaleserve

LOG_ENV = "SCALESERVE_CONFORMANCE_LOG"


class Job(BaseModel):
    x: int
    sleep_s: float = 0.0
    crash: bool = False


class Done(BaseModel):
    x: int
    batch: int
    pid: int


class Work(scaleserve.Model):
    name = "work"
    max_batch_size = 4
    max_wait_ms = 100  # long enough that items queued together share a batch
    max_queue_items = 100

    def predict(self, batch: list[Job]) -> list[Done]:
        _log(*(f"start {job.x}" for job in batch))
        for job in batch:
            if job.crash:
                os._exit(9)
        if any(job.sleep_s for job in batch):
            import time

            time.sleep(max(job.sleep_s for job in batch))
        return [Done(x=job.x, batch=len(batch), pid=os.getpid()) for job in batch]

    async def predict_stream(self, item: Job) -> AsyncIterator[int]:
        _log(f"stream {item.x}")
        for index in range(item.x):
            yield index
            await asyncio.sleep(item.sleep_s)
        _log(f"streamed {item.x}")


def _log(*lines: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as log:
            log.writelines(f"{line} {os.getpid()}\n" for line in lines)
