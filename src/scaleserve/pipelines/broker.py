"""Pipelines served behind the ``Broker`` seam: a pipeline's name is answered by running
its graph, any other name passes to the broker inside. So the predict route, the
protocols (OpenAI chat for a pipeline ending in a text-generation model), streaming and
the job runner serve a pipeline exactly as they serve a model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping

from scaleserve.pipelines.executor import PipelineExecutor
from scaleserve.queue.broker import Broker


class PipelineBroker:
    """See ``scaleserve.queue.broker.Broker``."""

    def __init__(self, inner: Broker, executors: Mapping[str, PipelineExecutor]) -> None:
        self.inner = inner
        self._executors = dict(executors)

    async def start(self) -> None:
        return None  # the inner broker's lifecycle is its owner's

    async def close(self) -> None:
        return None

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        executor = self._executors.get(model)
        if executor is None:
            return await self.inner.submit(model, payloads, timeout_s)
        return list(await asyncio.gather(*(executor.run(p, timeout_s) for p in payloads)))

    def stream(self, model: str, payload: bytes, timeout_s: float) -> AsyncGenerator[bytes, None]:
        executor = self._executors.get(model)
        if executor is None:
            return self.inner.stream(model, payload, timeout_s)
        return executor.stream(payload, timeout_s)

    def depth(self, model: str) -> int:
        """A pipeline's items wait in its models' queues, counted there."""
        return 0 if model in self._executors else self.inner.depth(model)

    def queued(self, model: str) -> int:
        return 0 if model in self._executors else self.inner.queued(model)

    def ready_workers(self, model: str) -> int:
        """A pipeline is as ready as its least ready model."""
        executor = self._executors.get(model)
        if executor is None:
            return self.inner.ready_workers(model)
        models = executor.graph.models()
        return min((self.inner.ready_workers(m) for m in models), default=1)
