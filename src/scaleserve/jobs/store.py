"""The seams between the jobs part and where jobs are kept.

``JobStore`` is what the API reads (any backend). ``RunnableJobStore`` adds what the
embedded ``JobRunner`` drives; with Redis, workers drive jobs through Lua scripts instead.
Every change of state is one conditional step, so concurrent or late writers cannot move a
job backwards: ``claim`` only takes a queued job, ``finish`` only ends an unended one (first
writer wins), ``cancel`` only a queued one. Each change appends a ``JobEvent`` with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from scaleserve.jobs.record import Job, JobEvent, JobStatus

SubmitJobs = Callable[[Sequence[Job]], Awaitable[None]]
"""Record queued jobs, all of them or none, and hand them to whatever runs them; durable
when it returns. Raises ``Overloaded`` (nothing recorded) when a model's bound refuses them."""


class JobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, job_id: str, tenant: str) -> Job | None:
        """The job if it exists and belongs to ``tenant``."""
        ...

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        """``get`` of each id, in order, in one step."""
        ...

    async def cancel(self, job_id: str, tenant: str, now: float, expires_at: float) -> Job | None:
        """queued → cancelled; ``None`` if the job is not queued."""
        ...

    async def events_after(self, job_id: str, after_seq: int) -> list[JobEvent]: ...

    async def wait_for_event(self, job_id: str, after_seq: int, timeout_s: float) -> None:
        """Return when the job has an event after ``after_seq``, or after ``timeout_s``."""
        ...

    async def wait_until_ended(
        self,
        job_id: str,
        tenant: str,
        timeout_s: float,
        first_state: Awaitable[Job] | None = None,
    ) -> Job | None:
        """``get`` once the job has ended, or as it is after ``timeout_s``. ``first_state``
        (a submission of the job) is awaited once the job is watched, in place of the first
        ``get``."""
        ...


class RunnableJobStore(JobStore, Protocol):
    async def create(self, jobs: Sequence[Job]) -> None:
        """Record new queued jobs, all of them or none; durable when this returns."""
        ...

    async def claim(self, job_id: str, now: float) -> Job | None:
        """queued → running (attempts + 1); ``None`` if the job is not queued or its deadline
        has passed."""
        ...

    async def expire(self, job_id: str, now: float, expires_at: float) -> Job | None:
        """queued → expired when its deadline has passed; ``None`` otherwise."""
        ...

    async def release(self, job_id: str) -> bool:
        """running → queued, to run again (its worker died)."""
        ...

    async def finish(
        self,
        job_id: str,
        status: JobStatus,
        now: float,
        *,
        outputs: bytes | None = None,
        error_code: str | None = None,
        error: str | None = None,
        expires_at: float,
    ) -> Job | None:
        """End a running or queued job; ``None`` if it had already ended (the late writer loses)."""
        ...

    async def unfinished(self) -> list[Job]:
        """Jobs queued or running, oldest first: what a restart must run."""
        ...

    async def delete_expired(self, now: float) -> int:
        """Remove ended jobs whose retention has passed; returns how many."""
        ...
