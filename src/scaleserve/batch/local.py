"""Running a batch on this machine: the model's own worker processes, fed through the
embedded queue as the gateway feeds them, without HTTP in between.

Items are checked against the model's input type here, so a bad row is named with
pydantic's message; the valid ones go to the queue in requests of one batch each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from scaleserve.batch.predictor import RETRIES, RowResult
from scaleserve.errors import (
    ConfigError,
    DeadlineExceeded,
    ModelFailed,
    NoHealthyWorker,
    Overloaded,
    WorkerLost,
)
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.broker import Broker
from scaleserve.scale.autoscaler import gpu_assigner
from scaleserve.scale.capacity import Capacity
from scaleserve.scale.runtime_dir import RuntimeDir
from scaleserve.scale.service import worker_pools
from scaleserve.scale.supervisor import Supervisor
from scaleserve.settings import ServeSettings

READY_POLL_S = 0.05


class LocalPredictor:
    """Requests of one batch each; enough of them queued that no worker waits for the next
    (two per worker, and two more), never more than the model's queue takes."""

    def __init__(self, spec: ModelSpec, broker: Broker) -> None:
        self._spec = spec
        self._broker = broker
        self._request_items = min(spec.max_batch_size, spec.max_items_per_request)
        by_queue = spec.max_queue_items // self._request_items
        self._requests = asyncio.Semaphore(max(1, min(by_queue, 2 * max(1, spec.workers) + 2)))

    @property
    def chunks_in_flight(self) -> int:
        return 2

    async def predict(self, items: list[Any], key: str | None = None) -> list[RowResult]:
        results: list[RowResult | None] = [None] * len(items)
        payloads: list[bytes] = []
        places: list[int] = []
        for place, item in enumerate(items):
            try:
                checked = self._spec.input_adapter.validate_python(item)
            except ValidationError as exc:
                results[place] = RowResult(error=_type_error(exc))
                continue
            payloads.append(self._spec.input_adapter.dump_json(checked))
            places.append(place)
        size = self._request_items
        groups = [payloads[start : start + size] for start in range(0, len(payloads), size)]
        answers = await asyncio.gather(*(self._request(group) for group in groups))
        for place, result in zip(places, (r for answer in answers for r in answer), strict=True):
            results[place] = result
        return [result or RowResult(error="not run") for result in results]

    async def _request(self, payloads: list[bytes]) -> list[RowResult]:
        async with self._requests:
            return await self._isolating(payloads)

    async def _isolating(self, payloads: list[bytes]) -> list[RowResult]:
        """Each payload's result; a request failing as a whole is retried item by item."""
        if not payloads:
            return []
        try:
            outputs = await self._submit(payloads)
        except (ModelFailed, DeadlineExceeded, WorkerLost) as exc:
            if len(payloads) == 1:
                return [RowResult(error=str(exc))]
            singles = await asyncio.gather(*(self._isolating([p]) for p in payloads))
            return [one[0] for one in singles]
        return [RowResult(output=output) for output in outputs]

    async def _submit(self, payloads: list[bytes]) -> list[Any]:
        import orjson

        for attempt in range(1, RETRIES + 1):
            try:
                raw = await self._broker.submit(self._spec.name, payloads, self._spec.timeout_s)
                return [orjson.loads(output) for output in raw]
            except (WorkerLost, Overloaded) as exc:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(exc.retry_after_s or 1.0)
        raise AssertionError("unreachable")


def _type_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@contextlib.asynccontextmanager
async def local_workers(
    spec: ModelSpec, settings: ServeSettings, runtime: RuntimeDir, ready_timeout_s: float
) -> AsyncIterator[LocalPredictor]:
    """The model's workers started and warm, behind an embedded queue; drained on exit."""
    broker = EmbeddedBroker(runtime.socket_path, [spec])
    await broker.start()
    gpus = gpu_assigner([spec], Capacity.from_env())  # each GPU worker its own device
    supervisor = Supervisor(
        worker_pools(settings, [spec], runtime.socket_path), slot_env=gpus.env if gpus else None
    )
    try:
        await supervisor.start()
        await _until_ready(spec, broker, supervisor, ready_timeout_s)
        yield LocalPredictor(spec, broker)
    finally:
        await supervisor.stop(settings.gateway.drain_timeout_s)
        await broker.close()


async def _until_ready(
    spec: ModelSpec, broker: EmbeddedBroker, supervisor: Supervisor, timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while broker.ready_workers(spec.name) == 0:
        if supervisor.is_failing(spec.name):
            raise NoHealthyWorker(spec.name)
        if loop.time() > deadline:
            raise ConfigError(f"no worker of {spec.name!r} was ready within {timeout_s:g}s")
        await asyncio.sleep(READY_POLL_S)
