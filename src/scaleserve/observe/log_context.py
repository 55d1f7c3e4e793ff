"""What a log line knows of where it was written: the process's fields (a worker's model
and version) and the request being answered (its id, tenant, model and version).

The access log middleware opens a ``RequestLog`` per request; the code that learns the
tenant or the model fills it in as the request goes, and every line logged meanwhile, in
that request's task, carries it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

FIELDS_ATTRIBUTE = "scaleserve_fields"
"""A record's extra fields (``log.info(..., extra={FIELDS_ATTRIBUTE: {...}})``), for the
few lines that carry structured values of their own (the access line)."""


@dataclass(slots=True)
class RequestLog:
    request_id: str
    tenant: str = ""
    model: str = ""
    version: str = ""

    def fields(self) -> dict[str, str]:
        found = {"request_id": self.request_id}
        for name in ("tenant", "model", "version"):
            value = getattr(self, name)
            if value:
                found[name] = value
        return found


_CURRENT: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "scaleserve_request_log", default=None
)
_PROCESS: dict[str, Any] = {}


def current() -> RequestLog | None:
    return _CURRENT.get()


def open_request(request_id: str) -> contextvars.Token[RequestLog | None]:
    return _CURRENT.set(RequestLog(request_id))


def close_request(token: contextvars.Token[RequestLog | None]) -> None:
    _CURRENT.reset(token)


def set_process_fields(**fields: Any) -> None:
    """Fields of every line this process logs (a worker's model and version)."""
    _PROCESS.update(fields)


def process_fields() -> dict[str, Any]:
    return _PROCESS
