"""The one shape the audit log keeps: what happened to one prediction."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

FIELDS: tuple[str, ...] = (
    "ts",
    "tenant",
    "model",
    "version",
    "route",
    "request_id",
    "trace_id",
    "latency_ms",
    "status",
    "cache",
    "input",
    "output",
)
"""``AuditRecord``'s fields in order: the stores' column order too."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One prediction, recorded when its request ended. Never holds a key or a secret.

    ``input`` and ``output`` are the JSON text, ``"sha256:<hex>"`` when redacted, or
    ``None`` when not kept (see ``scaleserve.audit.redaction``). Stores keep ``ts`` to the
    microsecond.
    """

    ts: float  # unix seconds, when the request ended
    tenant: str
    model: str
    version: str
    route: str  # "predict", "jobs", "openai", ...
    request_id: str
    trace_id: str  # "" when untraced
    latency_ms: float
    status: int  # HTTP status
    cache: str  # "miss", "hit-memory", "hit-redis", "" ...
    input: str | None
    output: str | None


def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight UTC starting ``day``: audit days are UTC days."""
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
