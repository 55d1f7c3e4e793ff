"""The predict route's side of the audit log: a record per request the model's policy
picks, offered to the ``AuditSink`` (never waited for; a full buffer drops it, counted).

The record holds who asked (the tenant, never a key), what answered (model, version, cache
outcome), how it went (status, latency) and the request and response bodies as the policy
keeps them (the JSON, its sha256, or nothing)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence

import orjson
from starlette.types import Scope

from scaleserve.api.caller import CALLER_KEY, Caller
from scaleserve.audit.records import AuditRecord
from scaleserve.audit.redaction import kept
from scaleserve.audit.sink import AuditSink
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import log_context, tracing

REQUEST_BODY_KEY = "scaleserve.request_body"
_PROCESS = uuid.uuid4().hex[:12]
_COUNTER = itertools.count()
_REQUEST_ID = b"x-request-id"
_CACHE = b"x-cache"


class PredictionAudit:
    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink

    def record(  # noqa: PLR0917 - the predict route's facts about one request, in order
        self,
        spec: ModelSpec,
        version: str,
        scope: Scope,
        status: int,
        took_s: float,
        response: bytes | None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Offer the record of one request, if ``spec``'s policy wants it."""
        policy = spec.audit
        if policy is None or not policy.wants(status):
            return
        caller = scope.get(CALLER_KEY)
        request = scope.get(REQUEST_BODY_KEY)
        self.sink.offer(
            AuditRecord(
                ts=time.time(),
                tenant=caller.tenant.name if isinstance(caller, Caller) else "",
                model=spec.name,
                version=version,
                route="predict",
                request_id=_request_id(scope),
                trace_id=_trace_id(),
                latency_ms=took_s * 1000,
                status=status,
                cache=next((v.decode("latin-1") for k, v in headers if k == _CACHE), ""),
                input=kept(request, policy.inputs) if request is not None else None,
                output=kept(response, policy.outputs) if response is not None else None,
            )
        )


def error_output(message: str) -> bytes:
    """A failed request's output, as the record keeps it."""
    return orjson.dumps({"error": message})


def _request_id(scope: Scope) -> str:
    current = log_context.current()
    if current is not None:
        return str(current.request_id)
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            return str(value.decode("latin-1"))[:128]
    return f"{_PROCESS}-{next(_COUNTER):x}"  # unique, and cheaper than a uuid per request


def _trace_id() -> str:
    parent = tracing.current_traceparent() if tracing.active() else ""
    parts = parent.split("-")
    return parts[1] if len(parts) == 4 else ""
