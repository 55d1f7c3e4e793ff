"""What a job is: its record, its states and the events a client can follow."""

from __future__ import annotations

import contextvars
import enum
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

import orjson

JOB_ID_BYTES = 16  # 128 random bits

CURRENT_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "scaleserve_current_job", default=None
)
"""The id of the job whose run is this context (a pipeline records its steps under it)."""
_JOB_ID = re.compile(f"[0-9a-f]{{{2 * JOB_ID_BYTES}}}")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED}
)


def new_job_id() -> str:
    return secrets.token_hex(JOB_ID_BYTES)


def is_job_id(value: str) -> bool:
    return _JOB_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Job:
    """One job. ``inputs`` and ``outputs`` are JSON arrays, one element per item."""

    id: str
    tenant: str
    model: str
    status: JobStatus
    inputs: bytes
    created_at: float
    deadline_at: float
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    outputs: bytes | None = None
    error_code: str | None = None
    error: str | None = None
    webhook_url: str | None = None
    expires_at: float | None = None
    trace: str | None = None
    """The W3C ``traceparent`` of the request that submitted it (traced requests only): its
    run and its webhook delivery go on in that trace."""

    def with_changes(self, **changes: Any) -> Job:
        return replace(self, **changes)

    def item_payloads(self) -> list[bytes]:
        """Each input item as JSON, as the broker takes them."""
        return [orjson.dumps(item) for item in orjson.loads(self.inputs)]

    def view(self) -> dict[str, Any]:
        """The job as clients see it (outputs embedded without re-encoding)."""
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "status": self.status.value,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "deadline_at": self.deadline_at,
            "attempts": self.attempts,
        }
        if self.outputs is not None:
            body["outputs"] = orjson.Fragment(self.outputs)
        if self.error is not None:
            body["error"] = {"code": self.error_code, "message": self.error}
        if self.webhook_url is not None:
            body["webhook"] = {"url": self.webhook_url}
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        return body


@dataclass(frozen=True)
class JobEvent:
    """A change of a job, numbered from 1 per job; ``data`` is the job's view after it."""

    job_id: str
    seq: int
    status: JobStatus
    data: bytes
