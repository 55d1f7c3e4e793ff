"""The spans a worker records for one batch, when tracing is on and the batch holds traced
items.

A batch serves many requests, so it cannot sit in one request's tree alone. Each traced
item gets a consumer span (``process {queue}``) in its own trace, child of the producer
span that queued it; the batch gets one span (``batch {queue}``) that links to every one
of them and sits under the first, so that request's tree shows the batch whole; the
model's call is a span (``predict {model}``) under the batch span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from scaleserve.observe import tracing
from scaleserve.types import ItemResult, WorkItem

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer


class BatchTrace:
    def __init__(self, tracer: Tracer, model: str, items: dict[int, Span], batch: Span) -> None:
        self._tracer = tracer
        self._model = model
        self._items = items
        self._batch = batch

    @classmethod
    def start(
        cls, queue: str, model: str, batch: Sequence[WorkItem], now: float
    ) -> BatchTrace | None:
        """The batch's spans, or ``None`` when tracing is off or no item is traced."""
        tracer = tracing.tracer()
        if tracer is None or not any(item.trace for item in batch):
            return None
        items = _consumer_spans(tracer, queue, batch, now)
        if not items:
            return None
        from opentelemetry import trace

        first = next(iter(items.values()))
        span = tracer.start_span(
            f"batch {queue}",
            context=trace.set_span_in_context(first),
            links=[trace.Link(s.get_span_context()) for s in items.values()],
            attributes={"scaleserve.model": model, "scaleserve.batch.size": len(batch)},
        )
        return cls(tracer, model, items, span)

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """The batch span as the current one (what the worker logs meanwhile carries it)."""
        from opentelemetry import trace

        with trace.use_span(self._batch, end_on_exit=False):
            yield

    @contextlib.contextmanager
    def predict(self, name: str = "predict") -> Iterator[None]:
        """The model's call, as the current span (so a model's own spans nest under it)."""
        from opentelemetry import trace

        context = trace.set_span_in_context(self._batch)
        with self._tracer.start_as_current_span(f"{name} {self._model}", context=context):
            yield

    def finish(self, results: Sequence[ItemResult]) -> None:
        """End every span; an item that failed marks its own span failed."""
        from opentelemetry.trace import Status, StatusCode

        for result in results:
            span = self._items.pop(result.id, None)
            if span is None:
                continue
            if result.failure is not None:
                span.set_attribute("error.type", result.failure.value)
                span.set_status(Status(StatusCode.ERROR, result.error))
            span.end()
        for span in self._items.values():
            span.end()
        self._batch.end()


def _consumer_spans(
    tracer: Tracer, queue: str, batch: Sequence[WorkItem], now: float
) -> dict[int, Span]:
    from opentelemetry.trace import SpanKind

    spans: dict[int, Span] = {}
    for item in batch:
        parent = tracing.context_of(item.trace) if item.trace else None
        if parent is None:
            continue
        spans[item.id] = tracer.start_span(
            f"process {queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": tracing.MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.destination.name": queue,
                "scaleserve.queue.wait_s": max(0.0, now - item.enqueued_at),
            },
        )
    return spans
