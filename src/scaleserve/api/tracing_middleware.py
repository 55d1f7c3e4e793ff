"""The gateway's server span: one per HTTP request, child of the caller's ``traceparent``
when it sends one, named and described by OpenTelemetry's HTTP semantic conventions.

It wraps the whole gateway (authentication included) and is installed only when tracing is
on, so an untraced gateway does not even pass through it. A response that streams (its
first body message says more is coming) gets a ``first chunk`` event on the span.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaleserve.api.caller import CALLER_KEY, Caller
from scaleserve.api.predict import predict_route_model
from scaleserve.observe import tracing

FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
"""FastAPI's own OpenTelemetry spans, off: this middleware makes the one server span of a
request, for the routes answered ahead of FastAPI too, and metrics are Prometheus'."""
JOBS_PATH = "/v1/jobs"
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: a trace of each would bury the requests."""


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = tracing.tracer()
        if scope["type"] != "http" or tracer is None or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        parent = tracing.extract(_headers(scope)) if _carries_context(scope) else None
        method = scope["method"]
        span = tracer.start_span(method, context=parent, kind=tracing.kind("SERVER"))
        if not span.is_recording():  # not sampled: nothing to note, nothing to carry on
            await self.app(scope, receive, send)
            return
        span.set_attributes(_request_attributes(scope))
        reply = _Reply(send, span, time.perf_counter())
        with tracing.use(span):
            try:
                await self.app(scope, receive, reply.send)
            finally:
                route = _route(scope)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                _describe_caller(span, scope)


def _carries_context(scope: Scope) -> bool:
    return any(name in _CONTEXT_HEADERS for name, _ in scope["headers"])


class _Reply:
    """Notes the response's status (and first streamed chunk) on the span as it goes out."""

    def __init__(self, send: Send, span: Any, started: float) -> None:
        self._send = send
        self._span = span
        self._started = started
        self._streaming = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status(int(message["status"]))
        elif kind == "http.response.body" and not self._streaming and message.get("more_body"):
            self._streaming = True
            took = time.perf_counter() - self._started
            self._span.add_event("first chunk", {"scaleserve.time_to_first_chunk_s": took})
        await self._send(message)

    def _status(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_attribute("error.type", str(status))
            self._span.set_status(Status(StatusCode.ERROR))


_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _CONTEXT_HEADERS
    }


def _request_attributes(scope: Scope) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    server, client = scope.get("server"), scope.get("client")
    if server:
        attributes["server.address"], attributes["server.port"] = server[0], server[1]
    if client:
        attributes["client.address"] = client[0]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            attributes["user_agent.original"] = value.decode("latin-1")
    return attributes


def _route(scope: Scope) -> str | None:
    route = scope.get("route")
    path_format = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path_format, str):
        return path_format
    # The routes answered ahead of FastAPI (which names its own).
    path: str = scope["path"]
    if predict_route_model(path) is not None:
        return "/v1/models/{name}/predict"
    if path == JOBS_PATH:
        return path
    if path.startswith(JOBS_PATH + "/") and "/" not in path[len(JOBS_PATH) + 1 :]:
        return JOBS_PATH + "/{job_id}"
    return None


def _describe_caller(span: Any, scope: Scope) -> None:
    caller = scope.get(CALLER_KEY)
    if isinstance(caller, Caller):
        span.set_attribute("scaleserve.tenant", caller.tenant.name)
    name = scope.get("path_params", {}).get("name")
    if isinstance(name, str):
        span.set_attribute("scaleserve.model", name)
