"""One access line per request (``scaleserve.access``, at INFO): method, path, status,
latency, the caller's tenant, model and version, and the request id, which the response
carries back in ``X-Request-Id`` (a client's own id is kept when it is a short token).

The line holds the path only: no query string, no header, no body, so no key or payload
ever reaches the log. Probes and scrapes are not logged. On with JSON logs, or with
``SCALESERVE_ACCESS_LOG=true``.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaleserve.api.caller import CALLER_KEY, Caller
from scaleserve.observe import log_context
from scaleserve.observe.logs import log_format
from scaleserve.registry.ticket import VERSION_HEADER

ACCESS_LOG_ENV = "SCALESERVE_ACCESS_LOG"
REQUEST_ID_HEADER = b"x-request-id"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

access = logging.getLogger("scaleserve.access")


def access_log_wanted() -> bool:
    value = os.environ.get(ACCESS_LOG_ENV, "").strip().lower()
    return value in {"1", "true", "yes"} if value else log_format() == "json"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = log_context.open_request(request_id)
        reply = _Reply(send, request_id.encode())
        started = time.perf_counter()
        try:
            await self.app(scope, receive, reply.send)
        finally:
            took_ms = (time.perf_counter() - started) * 1000
            _log(scope, reply, took_ms)
            log_context.close_request(token)


class _Reply:
    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        self.status = 0  # no response began (the client left first)
        self.version = ""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            headers = list(message.get("headers", []))
            for name, value in headers:
                if name == VERSION_HEADER:
                    self.version = value.decode("latin-1")
            headers.append((REQUEST_ID_HEADER, self._request_id))
            message = {**message, "headers": headers}
        await self._send(message)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _CLIENT_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex


def _log(scope: Scope, reply: _Reply, took_ms: float) -> None:
    request = log_context.current()
    if request is None:
        return
    caller = scope.get(CALLER_KEY)
    if isinstance(caller, Caller):
        request.tenant = caller.tenant.name
    name = scope.get("path_params", {}).get("name")
    if isinstance(name, str) and not request.model:
        request.model = name
    if reply.version and not request.version:
        request.version = reply.version
    method, path = scope["method"], scope["path"]
    client = scope.get("client")
    fields = {
        "event": "access",
        "method": method,
        "path": path,
        "status": reply.status,
        "duration_ms": round(took_ms, 3),
        "client": client[0] if client else "",
    }
    access.info(
        "%s %s %d %.1fms",
        method,
        path,
        reply.status,
        took_ms,
        extra={log_context.FIELDS_ATTRIBUTE: fields},
    )
