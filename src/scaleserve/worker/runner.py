"""Runs batches through one model instance: decode the inputs, predict, encode the outputs;
and streamed items through ``predict_stream``, one chunk at a time.

Failures stay inside the batch that caused them: an item that does not validate fails
alone, a model that raises fails its batch, and the worker goes on to the next batch.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from pydantic import ValidationError

from scaleserve.errors import StreamCancelled
from scaleserve.model.base import Model
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import metrics
from scaleserve.types import FailureKind, ItemResult, WorkItem
from scaleserve.worker.batch_trace import BatchTrace

log = logging.getLogger(__name__)

Emit = Callable[[int, bytes], Awaitable[None]]
"""Sends one chunk (JSON) of item ``id``; raises ``StreamCancelled`` once nobody reads it."""
_END: Any = object()


class ModelRunner:
    """Calls ``predict`` of a loaded model on batches of queued items."""

    def __init__(self, spec: ModelSpec, model: Model) -> None:
        self._spec = spec
        self._model = model
        labels = (spec.name, spec.version)
        self._batch_size = metrics.BATCH_SIZE.labels(*labels)
        self._batch_fill = metrics.BATCH_FILL.labels(*labels)
        self._inference = metrics.INFERENCE_DURATION.labels(*labels)
        self._queue_wait = metrics.QUEUE_WAIT.labels(*labels)

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
        trace = BatchTrace.start(self._spec.queue_name, self._spec.name, batch, now)
        results: list[ItemResult] = []
        live: list[WorkItem] = []
        inputs: list[Any] = []
        for item in batch:
            value = self._admit(item, now, results)
            if value is not _END:
                live.append(item)
                inputs.append(value)
        if live:
            with _current(trace):
                results.extend(await self._run_live(live, inputs, trace))
        self._count(results)
        if trace is not None:
            trace.finish(results)
        return results

    async def stream(self, item: WorkItem, emit: Emit) -> ItemResult:
        """Run ``item`` through ``predict_stream``, emitting each chunk as soon as the model
        yields it; the result ends the stream. The generator is closed when the stream is
        cancelled (``emit`` raised ``StreamCancelled``), so its ``finally`` blocks run."""
        results: list[ItemResult] = []
        now = time.time()
        trace = BatchTrace.start(self._spec.queue_name, self._spec.name, [item], now)
        value = self._admit(item, now, results)
        if value is not _END:
            started = time.perf_counter()
            with _current(trace), _predicting(trace, "predict_stream"):
                result = await self._relay(item.id, value, emit)
            took = time.perf_counter() - started  # includes sending chunks: it holds the worker
            results.append(msgspec.structs.replace(result, compute_s=took))
        self._count(results)
        if trace is not None:
            trace.finish(results)
        return results[0]

    def _admit(self, item: WorkItem, now: float, failures: list[ItemResult]) -> Any:
        """The item's input, or ``_END`` with its failure appended to ``failures``."""
        if item.deadline <= now:
            failures.append(
                ItemResult(item.id, failure=FailureKind.EXPIRED, error="deadline passed")
            )
            return _END
        try:
            value = self._spec.input_adapter.validate_json(item.payload)
        except ValidationError as exc:
            failures.append(ItemResult(item.id, failure=FailureKind.INPUT, error=_summary(exc)))
            return _END
        self._queue_wait.observe(max(0.0, now - item.enqueued_at))
        return value

    async def _relay(self, item_id: int, value: Any, emit: Emit) -> ItemResult:
        try:
            chunks = _iterator(self._model.predict_stream(value))
        except Exception as exc:
            log.exception("model %r failed to start a stream", self._spec.name)
            return ItemResult(item_id, failure=FailureKind.MODEL, error=_error(exc))
        try:
            while (data := await self._next_chunk(chunks)) is not None:
                await emit(item_id, data)
        except StreamCancelled:
            return ItemResult(item_id, failure=FailureKind.CANCELLED, error="cancelled")
        except StreamFailed as exc:
            return ItemResult(item_id, failure=FailureKind.MODEL, error=str(exc))
        finally:
            await _close(chunks)
        return ItemResult(item_id)

    async def _next_chunk(self, chunks: Any) -> bytes | None:
        """The model's next chunk as JSON, ``None`` at the end; ``StreamFailed`` when the
        model raised or yielded something that is not a chunk of its declared type."""
        adapter = self._spec.chunk_adapter
        try:
            chunk = await _next(chunks)
            return None if chunk is _END else adapter.dump_json(adapter.validate_python(chunk))
        except ValidationError as exc:
            raise StreamFailed(
                f"predict_stream yielded an invalid chunk: {_summary(exc)}"
            ) from None
        except Exception as exc:
            log.exception("model %r failed while streaming", self._spec.name)
            raise StreamFailed(_error(exc)) from exc

    async def _run_live(
        self, items: list[WorkItem], inputs: list[Any], trace: BatchTrace | None
    ) -> list[ItemResult]:
        self._batch_size.observe(len(inputs))
        self._batch_fill.observe(len(inputs) / self._spec.max_batch_size)
        return await self._isolating(items, inputs, trace, first=True)

    async def _isolating(
        self, items: list[WorkItem], inputs: list[Any], trace: BatchTrace | None, first: bool
    ) -> list[ItemResult]:
        """The batch's results. A batch the model fails is split in halves, and each half
        run again, until the failing items are found: one bad input fails only its own
        request, not every request batched with it (at most ``2n - 1`` calls for ``n``)."""
        started = time.perf_counter()
        try:
            with _predicting(trace):
                outputs = await self._predict(inputs)
                encoded = self._encode_outputs(outputs, len(inputs))
        except Exception as exc:
            if first:
                log.exception("model %r failed on a batch of %d", self._spec.name, len(inputs))
            if len(items) > 1:
                half = len(items) // 2
                return [
                    *await self._isolating(items[:half], inputs[:half], trace, first=False),
                    *await self._isolating(items[half:], inputs[half:], trace, first=False),
                ]
            share = self._took(started)
            return [ItemResult(items[0].id, failure=FailureKind.MODEL, error=_error(exc),
                               compute_s=share)]  # fmt: skip
        share = self._took(started) / len(items)
        return [
            ItemResult(i.id, output=o, compute_s=share) for i, o in zip(items, encoded, strict=True)
        ]

    def _took(self, started: float) -> float:
        """Seconds since ``started``, observed as the batch's inference time."""
        took = time.perf_counter() - started
        self._inference.observe(took)
        return took

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
            metrics.ITEMS.labels(self._spec.name, self._spec.version, outcome).inc(count)


class OutputMismatch(Exception):
    """The model's outputs do not match its inputs or its declared output type."""


class StreamFailed(Exception):
    """The model raised while streaming, or yielded a chunk of the wrong type."""


def _current(trace: BatchTrace | None) -> contextlib.AbstractContextManager[None]:
    return trace.current() if trace is not None else contextlib.nullcontext()


def _predicting(
    trace: BatchTrace | None, name: str = "predict"
) -> contextlib.AbstractContextManager[None]:
    return trace.predict(name) if trace is not None else contextlib.nullcontext()


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _summary(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "item"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _iterator(chunks: Any) -> Any:
    """An iterator or async iterator over whatever ``predict_stream`` returned."""
    if hasattr(chunks, "__anext__") or hasattr(chunks, "__next__"):
        return chunks
    if hasattr(chunks, "__aiter__"):
        return chunks.__aiter__()
    return iter(chunks)


async def _next(chunks: Any) -> Any:
    """The next chunk, or ``_END``. A sync generator runs in the worker's loop, as a sync
    ``predict`` does: the model owns the worker while it computes."""
    if hasattr(chunks, "__anext__"):
        return await anext(chunks, _END)
    return next(chunks, _END)


async def _close(chunks: Any) -> None:
    """Close the generator so its ``finally`` blocks run now, not whenever it is collected."""
    try:
        if hasattr(chunks, "aclose"):
            await chunks.aclose()
        elif hasattr(chunks, "close"):
            chunks.close()
    except Exception:
        log.exception("closing a predict_stream generator failed")
