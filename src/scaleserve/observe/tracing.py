"""OpenTelemetry tracing of every scaleserve process, configured by the standard ``OTEL_*``
variables and off unless they ask for it.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
is set, or ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``); it stays off
with ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. The SDK reads the rest
itself: the sampler (``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the exporter's
endpoint, headers and protocol, the batch processor's delays, ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``.

Off, OpenTelemetry is not even imported and every helper here is one ``None`` check, so
the hot paths pay nothing measurable. A sampled request's context travels inside its queue
item as a W3C ``traceparent`` string; an unsampled one carries nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, SpanKind, Tracer

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACER_NAME = "scaleserve"
MESSAGING_SYSTEM = "scaleserve"


class _State:
    """The process's tracer and provider; both ``None`` while tracing is off."""

    tracer: Tracer | None = None
    provider: TracerProvider | None = None


_state = _State()


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or any(environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(role: str) -> bool:
    """Start tracing in this process if the environment asks for it; ``role`` (``gateway``,
    ``worker``) names the process in its resource. True when tracing is on."""
    if _state.tracer is not None or not wanted():
        return _state.tracer is not None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, Any] = {"scaleserve.role": role, "process.pid": os.getpid()}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"scaleserve-{role}"
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    _state.provider = provider
    _state.tracer = provider.get_tracer(TRACER_NAME)
    return True


def _exporter() -> Any:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def shutdown() -> None:
    """Export what is buffered and stop (a process calls this as it exits)."""
    if _state.provider is not None:
        _state.provider.shutdown()
    _state.tracer = _state.provider = None


def active() -> bool:
    return _state.tracer is not None


def tracer() -> Tracer | None:
    """The process's tracer, or ``None`` when tracing is off."""
    return _state.tracer


@contextlib.contextmanager
def _span(
    tracer: Tracer,
    name: str,
    attributes: Mapping[str, Any] | None,
    kind: str,
    context: Context | None = None,
) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind], attributes=attributes
    ) as span:
        yield span


_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()


def span(
    name: str, attributes: Mapping[str, Any] | None = None, kind: str = "INTERNAL"
) -> contextlib.AbstractContextManager[Span | None]:
    """A child span of the current one around a block; nothing when tracing is off or the
    request is not sampled."""
    if _state.tracer is None or not _current_recording():
        return _NOTHING
    return _span(_state.tracer, name, attributes, kind)


def resume(
    parent: str | None,
    name: str,
    attributes: Mapping[str, Any] | None = None,
    kind: str = "INTERNAL",
) -> contextlib.AbstractContextManager[Span | None]:
    """A span around a block, child of the ``traceparent`` a record kept (a job's, from its
    submission) and current meanwhile; nothing when tracing is off or there is none."""
    if _state.tracer is None or not parent:
        return _NOTHING
    context = context_of(parent)
    if context is None:
        return _NOTHING
    return _span(_state.tracer, name, attributes, kind, context)


def _current_recording() -> bool:
    from opentelemetry import trace

    return trace.get_current_span().is_recording()


def start_producer(queue: str, count: int) -> Span | None:
    """A producer span for ``count`` items put on ``queue``, or ``None`` (off, unsampled)."""
    if _state.tracer is None or not _current_recording():
        return None
    from opentelemetry.trace import SpanKind

    return _state.tracer.start_span(
        f"publish {queue}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": queue,
            "messaging.batch.message_count": count,
        },
    )


def traceparent(span: Span | None) -> str:
    """``span``'s context as a W3C ``traceparent`` value; "" for no span or an unsampled
    one (nothing downstream would record it)."""
    if span is None:
        return ""
    context = span.get_span_context()
    if not context.trace_flags.sampled:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def current_traceparent() -> str:
    """The current span's ``traceparent`` (for a job to carry), "" when off or unsampled."""
    if _state.tracer is None:
        return ""
    from opentelemetry import trace

    return traceparent(trace.get_current_span())


def use(span: Span) -> contextlib.AbstractContextManager[Span]:
    """``span`` as the current span around a block, ended (failed, if the block raised) as
    the block ends."""
    from opentelemetry import trace

    return trace.use_span(span, end_on_exit=True, record_exception=True)


def end(span: Span | None) -> None:
    if span is not None:
        span.end()


def context_of(value: str) -> Context | None:
    """The remote parent named by a ``traceparent`` value; ``None`` when it does not parse."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": value})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def extract(headers: Mapping[str, str]) -> Context:
    """The parent context that a request's headers carry (``traceparent``, ``baggage``, or
    whatever ``OTEL_PROPAGATORS`` names)."""
    from opentelemetry import propagate

    return propagate.extract(headers)


def inject(headers: dict[str, str]) -> None:
    """Add the current context to outbound ``headers`` (webhook deliveries)."""
    if _state.tracer is not None:
        from opentelemetry import propagate

        propagate.inject(headers)


def kind(name: str) -> SpanKind:
    from opentelemetry.trace import SpanKind

    return SpanKind[name]
