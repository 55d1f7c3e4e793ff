"""A job store that remembers: the hot store first, the job history for what it let go.

The API reads jobs through it, so ``GET /v1/jobs/{id}`` (both its routes) and
``GET /v1/jobs?ids=`` still find a job after Redis has expired it. Everything else (cancel,
events, waits) is the hot store's: a job only in the history has ended, so it can neither
be cancelled nor change again (its event stream is its final state alone: see
``scaleserve.api.jobs``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from scaleserve.jobs.history import JobHistory
from scaleserve.jobs.record import Job, JobEvent
from scaleserve.jobs.store import JobStore


class JobStoreWithHistory:
    """See ``scaleserve.jobs.store.JobStore``; the history is asked only for the jobs the
    hot store no longer has (or never had: an unknown id costs one history read)."""

    def __init__(self, hot: JobStore, history: JobHistory) -> None:
        self._hot = hot
        self._history = history

    async def open(self) -> None:
        await self._hot.open()

    async def close(self) -> None:
        await self._hot.close()

    async def get(self, job_id: str, tenant: str) -> Job | None:
        job = await self._hot.get(job_id, tenant)
        return job if job is not None else await self._history.get(job_id, tenant)

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        jobs = await self._hot.get_many(job_ids, tenant)
        missing = [job_id for job_id, job in zip(job_ids, jobs, strict=True) if job is None]
        if not missing:
            return jobs
        kept = dict(zip(missing, await self._history.get_many(missing, tenant), strict=True))
        return [job or kept.get(job_id) for job_id, job in zip(job_ids, jobs, strict=True)]

    async def cancel(self, job_id: str, tenant: str, now: float, expires_at: float) -> Job | None:
        return await self._hot.cancel(job_id, tenant, now, expires_at)

    async def events_after(self, job_id: str, after_seq: int) -> list[JobEvent]:
        return await self._hot.events_after(job_id, after_seq)

    async def wait_for_event(self, job_id: str, after_seq: int, timeout_s: float) -> None:
        await self._hot.wait_for_event(job_id, after_seq, timeout_s)

    async def wait_until_ended(
        self,
        job_id: str,
        tenant: str,
        timeout_s: float,
        first_state: Awaitable[Job] | None = None,
    ) -> Job | None:
        return await self._hot.wait_until_ended(job_id, tenant, timeout_s, first_state)
