"""Runs batches through one model instance: decode the inputs, predict, encode the outputs.

Failures stay inside the batch that caused them: an item that does not validate fails
alone, a model that raises fails its batch, and the worker goes on to the next batch.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from typing import Any

from pydantic import ValidationError

from scaleserve.model.base import Model
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import metrics
from scaleserve.types import FailureKind, ItemResult, WorkItem

log = logging.getLogger(__name__)


class ModelRunner:
    """Calls ``predict`` of a loaded model on batches of queued items."""

    def __init__(self, spec: ModelSpec, model: Model) -> None:
        self._spec = spec
        self._model = model
        self._batch_size = metrics.BATCH_SIZE.labels(spec.name)
        self._inference = metrics.INFERENCE_DURATION.labels(spec.name)
        self._queue_wait = metrics.QUEUE_WAIT.labels(spec.name)

    async def warm_up(self) -> None:
        """Run the model once on ``example_input`` (a full batch of it) before taking traffic."""
        example = self._spec.model_class.example_input
        if example is None:
            return
        item = self._spec.input_adapter.validate_python(example)
        outputs = await self._predict([item] * self._spec.max_batch_size)
        self._encode_outputs(outputs, len(outputs))

    async def run(self, batch: list[WorkItem]) -> list[ItemResult]:
        """One result per item of ``batch``, in any order."""
        now = time.time()
        results: list[ItemResult] = []
        live: list[WorkItem] = []
        inputs: list[Any] = []
        for item in batch:
            if item.deadline <= now:
                results.append(
                    ItemResult(item.id, failure=FailureKind.EXPIRED, error="deadline passed")
                )
                continue
            try:
                inputs.append(self._spec.input_adapter.validate_json(item.payload))
            except ValidationError as exc:
                results.append(ItemResult(item.id, failure=FailureKind.INPUT, error=_summary(exc)))
                continue
            live.append(item)
            self._queue_wait.observe(max(0.0, now - item.enqueued_at))
        if live:
            results.extend(await self._run_live(live, inputs))
        self._count(results)
        return results

    async def _run_live(self, items: list[WorkItem], inputs: list[Any]) -> list[ItemResult]:
        self._batch_size.observe(len(inputs))
        started = time.perf_counter()
        try:
            outputs = await self._predict(inputs)
            encoded = self._encode_outputs(outputs, len(inputs))
        except Exception as exc:
            log.exception("model %r failed on a batch of %d", self._spec.name, len(inputs))
            error = f"{type(exc).__name__}: {exc}"
            return [ItemResult(i.id, failure=FailureKind.MODEL, error=error) for i in items]
        finally:
            self._inference.observe(time.perf_counter() - started)
        return [ItemResult(i.id, output=o) for i, o in zip(items, encoded, strict=True)]

    async def _predict(self, inputs: list[Any]) -> list[Any]:
        outputs = self._model.predict(inputs)
        if inspect.isawaitable(outputs):
            outputs = await outputs
        return list(outputs)

    def _encode_outputs(self, outputs: list[Any], expected: int) -> list[bytes]:
        if len(outputs) != expected:
            raise OutputMismatch(f"predict returned {len(outputs)} outputs for {expected} inputs")
        adapter = self._spec.output_adapter
        try:
            return [adapter.dump_json(adapter.validate_python(o)) for o in outputs]
        except ValidationError as exc:
            raise OutputMismatch(f"predict returned an invalid output: {_summary(exc)}") from None

    def _count(self, results: list[ItemResult]) -> None:
        outcomes = Counter("ok" if r.failure is None else r.failure.value for r in results)
        for outcome, count in outcomes.items():
            metrics.ITEMS.labels(self._spec.name, outcome).inc(count)


class OutputMismatch(Exception):
    """The model's outputs do not match its inputs or its declared output type."""


def _summary(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "item"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
