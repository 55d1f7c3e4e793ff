"""Runs one item through a pipeline's graph.

Each step starts as soon as the steps it takes from have finished, so independent steps
run at once (fan-out) and a step taking several waits for all of them (fan-in). A model
step goes through the broker: it is queued and batched with every other request of that
model. Inside a job, each finished step's output is recorded before the next steps use it,
and a rerun of the job takes the recorded outputs instead of running those steps again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncGenerator
from typing import Any

from pydantic import TypeAdapter

from scaleserve.errors import DeadlineExceeded, ModelFailed, ScaleserveError
from scaleserve.jobs.record import CURRENT_JOB
from scaleserve.observe import metrics, tracing
from scaleserve.pipelines.declare import CONTEXT, REQUEST, StepContext
from scaleserve.pipelines.graph import PipelineGraph, Step
from scaleserve.pipelines.steps import StepLog
from scaleserve.queue.broker import Broker
from scaleserve.registry import ticket
from scaleserve.vectors.store import VectorStore


class PipelineExecutor:
    def __init__(
        self, graph: PipelineGraph, broker: Broker, log: StepLog, vectors: VectorStore | None
    ) -> None:
        self.graph = graph
        self._broker = broker
        self._log = log
        self._vectors = vectors
        self._instance = graph.pipeline()
        self._request = TypeAdapter(graph.request_type)
        self._gives = {name: TypeAdapter(step.gives) for name, step in graph.steps.items()}

    @property
    def streams(self) -> bool:
        """The answer is a streaming model's: it can be streamed chunk by chunk."""
        model = self.graph.output_step.model
        return model is not None and model.streams

    async def run(self, payload: bytes, timeout_s: float) -> bytes:
        """The pipeline's answer (JSON) to one input item (JSON)."""
        try:
            async with asyncio.timeout(timeout_s):
                values = await self._values(payload, set(self.graph.steps), timeout_s)
        except TimeoutError:
            raise DeadlineExceeded() from None
        job_id = CURRENT_JOB.get()
        if job_id is not None:
            await self._log.forget(job_id)
        answer = values[self.graph.output]
        if self.graph.preface:
            text = values[self.graph.preface] + answer.text
            answer = answer.model_copy(update={"text": text})
        return self._gives[self.graph.output].dump_json(answer)

    async def stream(self, payload: bytes, timeout_s: float) -> AsyncGenerator[bytes, None]:
        """The answer's chunks: every step but the last run first, then the last streamed."""
        deadline = time.monotonic() + timeout_s
        last = self.graph.output_step
        if last.model is None:
            raise ModelFailed(self.graph.name, "its answer does not stream")
        needed = _upstream(self.graph, last.sources[0])
        if self.graph.preface:
            needed |= _upstream(self.graph, self.graph.preface)
        try:
            async with asyncio.timeout(timeout_s):
                values = await self._values(payload, needed, timeout_s)
        except TimeoutError:
            raise DeadlineExceeded() from None
        if self.graph.preface:
            chunk = last.model.chunk_adapter.validate_python({"text": values[self.graph.preface]})
            yield last.model.chunk_adapter.dump_json(chunk)
        item = last.model.input_adapter.dump_json(values[last.sources[0]])
        chunks = self._broker.stream(last.model.name, item, deadline - time.monotonic())
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _values(self, payload: bytes, wanted: set[str], timeout_s: float) -> dict[str, Any]:
        values: dict[str, Any] = {REQUEST: self._request.validate_json(payload)}
        job_id = CURRENT_JOB.get()
        if job_id is not None:
            values |= await self._resumed(job_id)
        scope = ticket.current() or {}
        context = StepContext(scope.get(ticket.TENANT_KEY, ""), self._vectors)
        deadline = time.monotonic() + timeout_s
        tasks: dict[str, asyncio.Task[Any]] = {}
        try:
            async with asyncio.TaskGroup() as group:
                for name in self.graph.order:
                    if name in wanted and name not in values:
                        run = self._step(self.graph.steps[name], tasks, values, context, deadline)
                        tasks[name] = group.create_task(run)
        except BaseExceptionGroup as group_error:
            raise _first(group_error) from None
        return values | {name: task.result() for name, task in tasks.items()}

    async def _resumed(self, job_id: str) -> dict[str, Any]:
        recorded = await self._log.finished(job_id)
        found = {
            name: self._gives[name].validate_json(raw)
            for name, raw in recorded.items()
            if name in self._gives
        }
        if found:
            metrics.PIPELINE_STEPS_RESUMED.labels(self.graph.name).inc(len(found))
        return found

    async def _step(
        self,
        step: Step,
        tasks: dict[str, asyncio.Task[Any]],
        values: dict[str, Any],
        context: StepContext,
        deadline: float,
    ) -> Any:
        inputs = [values[s] if s in values else await tasks[s] for s in step.sources]
        started = time.perf_counter()
        with tracing.span(f"step {step.name}", {"scaleserve.pipeline": self.graph.name}):
            value = await self._compute(step, inputs, context, deadline)
        took_s = time.perf_counter() - started
        metrics.PIPELINE_STEP_DURATION.labels(self.graph.name, step.name).observe(took_s)
        job_id = CURRENT_JOB.get()
        if job_id is not None:
            await self._log.record(job_id, step.name, self._gives[step.name].dump_json(value))
        return value

    async def _compute(
        self, step: Step, inputs: list[Any], context: StepContext, deadline: float
    ) -> Any:
        if step.model is not None:
            spec = step.model
            item = spec.input_adapter.dump_json(inputs[0])
            [raw] = await self._broker.submit(spec.name, [item], deadline - time.monotonic())
            return spec.output_adapter.validate_json(raw)
        if step.function is None:  # read_graph makes every step a model's or a function's
            raise ModelFailed(self.graph.name, f"step {step.name!r} has nothing to run")
        kwargs = dict(zip(step.sources, inputs, strict=True))
        if step.wants_context:
            kwargs[CONTEXT] = context
        try:
            value = step.function(self._instance, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except ScaleserveError:
            raise
        except Exception as exc:
            raise ModelFailed(self.graph.name, f"step {step.name!r} raised {exc!r}") from exc
        return value


def _upstream(graph: PipelineGraph, name: str) -> set[str]:
    """``name`` and every step it takes from, directly or not."""
    found: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current == REQUEST or current in found:
            continue
        found.add(current)
        pending.extend(graph.steps[current].sources)
    return found


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group, unwrapped (a step's own error, not the group's)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
