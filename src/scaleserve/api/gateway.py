"""The gateway's outermost ASGI app: it authenticates every request but the public ones,
then hands the hot routes (predict, submitting and reading a job) to their plain ASGI
handlers and the rest to the FastAPI app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaleserve.api.body_deadline import BODY_METHODS, BodyDeadline
from scaleserve.api.caller import CALLER_KEY, Caller
from scaleserve.api.raw_response import send_problem
from scaleserve.errors import ScaleserveError
from scaleserve.observe import tracing
from scaleserve.registry import ticket
from scaleserve.settings import GatewaySettings
from scaleserve.tenancy.gate import Gate

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
"""Liveness, readiness and the API's description: nothing about any tenant's data."""


class Shortcut(Protocol):
    """Routes answered ahead of FastAPI, whose per-request machinery costs more than the
    work of a hot route."""

    def handler(self, scope: Scope) -> ASGIApp | None:
        """The handler of this request, or ``None`` when it is not one of these routes."""
        ...


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        gate: Gate,
        shortcuts: Sequence[Shortcut],
        body_timeout_s: float = GatewaySettings.body_timeout_s,
        *,
        routing: bool = False,
    ) -> None:
        self.app = app
        self._gate = gate
        self._shortcuts = tuple(shortcuts)
        self._body_timeout_s = body_timeout_s
        self._routing = routing
        """Registry models are served: each request gets a route ticket, and its response
        names the versions that answered (``X-Model-Version``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self._serve(scope, receive, send)
            return
        deadline = BodyDeadline(receive, self._body_timeout_s)
        try:
            await self._serve(scope, deadline, send)
        finally:
            deadline.close()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in PUBLIC_PATHS:
            try:
                with tracing.span("authenticate"):
                    tenant = await self._gate.authenticate(_authorization(scope))
            except ScaleserveError as exc:
                await send_problem(send, exc)
                return
            scope[CALLER_KEY] = Caller(tenant, self._gate)
            if self._routing:
                scope[ticket.TENANT_KEY] = tenant.name
                ticket.enter(scope)
        for shortcut in self._shortcuts:
            handler = shortcut.handler(scope)
            if handler is not None:  # a shortcut names the versions that answered itself
                await handler(scope, receive, send)
                return
        if self._routing:
            send = _naming_versions(send, scope)
        await self.app(scope, receive, send)


def _naming_versions(send: Send, scope: Scope) -> Send:
    async def send_naming(message: Message) -> None:
        if message["type"] == "http.response.start":
            value = ticket.version_header(scope)
            if value is not None:
                headers = [*message["headers"], (ticket.VERSION_HEADER, value)]
                message = {**message, "headers": headers}
        await send(message)

    return send_naming


def _authorization(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None
