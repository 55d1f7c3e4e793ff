"""The audit log off the hot path: requests ``offer`` records, one task writes them.

``offer`` only appends to a bounded buffer (O(1), never waits, never raises). One writer
task takes up to ``batch_size`` records at a time and hands them to the store's
``write_many``: as soon as a batch is full, or ``flush_interval_s`` after it last wrote.
Records being written count against ``capacity``, so at most ``capacity`` records are ever
held. When the buffer is full, ``offer`` refuses and counts the record as dropped; when the
store fails, the batch is logged and counted as dropped, and the writer goes on: no request
ever waits or fails for the log, and nothing is retried without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from scaleserve.audit.records import AuditRecord
from scaleserve.audit.store import AuditStore
from scaleserve.errors import ConfigError

log = logging.getLogger(__name__)


class AuditSink:
    """A bounded in-memory buffer drained in batches by one background task.

    Call ``offer`` from the event loop's thread only. The sink neither opens nor closes
    its store: whoever made the store does.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
    ) -> None:
        if capacity < 1 or batch_size < 1 or not flush_interval_s > 0:
            raise ConfigError(
                "an audit sink needs capacity >= 1, batch_size >= 1 and flush_interval_s > 0"
            )
        self._store = store
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._buffer: deque[AuditRecord] = deque()
        self._writing = 0  # records taken by the writer, not yet written or dropped
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropped = 0
        self._written = 0

    @property
    def dropped(self) -> int:
        """Records refused (buffer full, or closed) or lost to a failing store."""
        return self._dropped

    @property
    def written(self) -> int:
        """Records the store accepted."""
        return self._written

    def offer(self, record: AuditRecord) -> bool:
        """Buffer ``record``; ``False`` (counted in ``dropped``) when full or closed."""
        if self._closing or len(self._buffer) + self._writing >= self._capacity:
            self._dropped += 1
            return False
        self._buffer.append(record)
        if len(self._buffer) >= self._batch_size:
            self._ready.set()
        return True

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-sink")

    async def close(self) -> None:
        """Write what is buffered, then stop; later offers are refused."""
        self._closing = True
        self._ready.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-sink")
        await self._task

    async def _run(self) -> None:
        while True:
            if len(self._buffer) < self._batch_size and not self._closing:
                await self._wait_for_batch()
            batch = self._take()
            if batch:
                await self._write(batch)
            elif self._closing:
                return

    async def _wait_for_batch(self) -> None:
        self._ready.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._flush_interval_s):
                await self._ready.wait()

    def _take(self) -> list[AuditRecord]:
        count = min(len(self._buffer), self._batch_size)
        batch = [self._buffer.popleft() for _ in range(count)]
        self._writing = count
        return batch

    async def _write(self, batch: list[AuditRecord]) -> None:
        try:
            await self._store.write_many(batch)
        except Exception:
            self._dropped += len(batch)
            log.exception("the audit store failed; %d records dropped", len(batch))
        else:
            self._written += len(batch)
        finally:
            self._writing = 0
