"""Runs queued jobs through the broker, the same path as a synchronous request.

At least once: a job whose worker dies goes back to the queue (up to ``max_attempts``
runs, then it fails as poison); after a crash of the whole service, ``start()`` takes up
every job that was queued or running. A job that has lost a worker is a suspect: the
suspects of a model run one at a time, so a healthy job that shared a batch with a poison
one cannot share one with it again, and only the poison job uses up its attempts.

Exactly one result: the store's ``finish`` only ends a job that has not ended, so a late
duplicate cannot overwrite it.

Usage: the compute seconds the workers spent on each run of a job go to ``on_usage``
(the tenant's usage), failed and lost runs included, as the work was done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from scaleserve.background import stop_tasks
from scaleserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelFailed,
    NoHealthyWorker,
    Overloaded,
    ScaleserveError,
    WorkerLost,
)
from scaleserve.jobs.record import CURRENT_JOB, Job, JobStatus
from scaleserve.jobs.settings import JobSettings
from scaleserve.jobs.store import RunnableJobStore
from scaleserve.observe import tracing
from scaleserve.queue.broker import Broker
from scaleserve.queue.meter import metered
from scaleserve.registry.ticket import open_ticket

log = logging.getLogger(__name__)

OnFinished = Callable[[Job], Awaitable[None]]
OnUsage = Callable[[str, str, float], None]
"""Count ``compute_s`` seconds of model ``model`` for tenant ``tenant``: (tenant, model,
compute_s)."""


class JobRunner:
    """One queue of job ids per model, drained with at most ``max_running_per_model`` at once."""

    def __init__(
        self,
        store: RunnableJobStore,
        broker: Broker,
        models: list[str],
        settings: JobSettings,
        *,
        on_finished: OnFinished | None = None,
        on_usage: OnUsage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._broker = broker
        self._settings = settings
        self._on_finished = on_finished
        self._on_usage = on_usage
        self._clock = clock
        self._queues: dict[str, asyncio.Queue[str]] = {m: asyncio.Queue() for m in models}
        self._suspects = {m: asyncio.Lock() for m in models}
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Take up the jobs a previous run left queued or running, then start draining."""
        recovered = [job for job in await self._store.unfinished() if job.model in self._queues]
        for job in recovered:
            if job.status is JobStatus.RUNNING:
                await self._store.release(job.id)
            self.schedule(job)
        if recovered:
            log.info("taking up %d unfinished jobs", len(recovered))
        # jobs of models this service does not serve (now) stay queued for one that does
        self._tasks = [asyncio.create_task(self._drain(m)) for m in self._queues]
        self._tasks.append(asyncio.create_task(self._sweep()))

    async def close(self) -> None:
        await stop_tasks([*self._tasks, *self._running])

    async def submit(self, jobs: Sequence[Job]) -> None:
        """Record ``jobs`` (durably, all or none) and queue them to run."""
        await self._store.create(jobs)
        for job in jobs:
            self.schedule(job)

    def schedule(self, job: Job) -> None:
        self._queues[job.model].put_nowait(job.id)

    async def _drain(self, model: str) -> None:
        queue = self._queues[model]
        slots = asyncio.Semaphore(self._settings.max_running_per_model)
        while True:
            job_id = await queue.get()
            await slots.acquire()
            task = asyncio.create_task(self._run(job_id))
            self._running.add(task)

            def done(task: asyncio.Task[None], slots: asyncio.Semaphore = slots) -> None:
                self._running.discard(task)
                slots.release()

            task.add_done_callback(done)

    async def _run(self, job_id: str) -> None:
        try:
            now = self._clock()
            job = await self._store.claim(job_id, now)
            if job is None:  # cancelled, ended, or past its deadline: never run it
                expired = await self._store.expire(job_id, now, now + self._settings.result_ttl_s)
                if expired is not None:
                    await self._notify(expired)
                return
            CURRENT_JOB.set(job.id)
            attributes = {"scaleserve.job.id": job.id, "scaleserve.model": job.model}
            with tracing.resume(job.trace, f"run job {job.model}", attributes, "CONSUMER"):
                await self._execute(job)
        except Exception:
            log.exception("job %s could not be run", job_id)

    async def _execute(self, job: Job) -> None:
        remaining_s = job.deadline_at - self._clock()
        if remaining_s <= 0:
            await self._end(job, JobStatus.EXPIRED, error=DeadlineExceeded())
            return
        try:
            if job.attempts > 1:
                async with self._suspects[job.model]:
                    outputs = await self._submit(job, job.deadline_at - self._clock())
            else:
                outputs = await self._submit(job, remaining_s)
        except WorkerLost as exc:
            await self._retry_or_fail(job, exc)
        except DeadlineExceeded as exc:
            await self._end(job, JobStatus.EXPIRED, error=exc)
        except (ModelFailed, InvalidInput) as exc:
            await self._end(job, JobStatus.FAILED, error=exc)
        else:
            await self._end(job, JobStatus.SUCCEEDED, outputs=b"[" + b",".join(outputs) + b"]")

    async def _submit(self, job: Job, remaining_s: float) -> list[bytes]:
        """Run the job's items, counting the compute seconds they took as its tenant's usage.
        A registry model answers at the version its tenant's requests get (a task of its own
        holds the job's route ticket)."""
        open_ticket(job.tenant)
        with metered() as meter:
            try:
                return await self._submit_until_deadline(job, remaining_s)
            finally:
                if self._on_usage is not None and meter.compute_s > 0:
                    self._on_usage(job.tenant, job.model, meter.compute_s)

    async def _submit_until_deadline(self, job: Job, remaining_s: float) -> list[bytes]:
        """Submit, waiting out a full queue or a restarting worker until the deadline."""
        payloads = job.item_payloads()
        deadline = self._clock() + remaining_s
        while True:
            try:
                return await self._broker.submit(job.model, payloads, deadline - self._clock())
            except (Overloaded, NoHealthyWorker) as exc:
                wait_s = min(exc.retry_after_s or 1.0, deadline - self._clock())
                if wait_s <= 0:
                    raise DeadlineExceeded() from exc
                await asyncio.sleep(wait_s)

    async def _retry_or_fail(self, job: Job, exc: WorkerLost) -> None:
        if job.attempts >= self._settings.max_attempts:
            message = f"the worker died on each of {job.attempts} attempts to run this job"
            await self._end(job, JobStatus.FAILED, error=ModelFailed(job.model, message))
            return
        log.warning("job %s lost its worker (attempt %d); queueing it again", job.id, job.attempts)
        if await self._store.release(job.id):
            self.schedule(job)

    async def _end(
        self,
        job: Job,
        status: JobStatus,
        *,
        outputs: bytes | None = None,
        error: ScaleserveError | None = None,
    ) -> None:
        now = self._clock()
        ended = await self._store.finish(
            job.id,
            status,
            now,
            outputs=outputs,
            error_code=_error_code(error) if error else None,
            error=str(error) if error else None,
            expires_at=now + self._settings.result_ttl_s,
        )
        if ended is not None:
            await self._notify(ended)

    async def _notify(self, job: Job) -> None:
        if self._on_finished is not None:
            await self._on_finished(job)

    async def _sweep(self) -> None:
        while True:
            try:
                removed = await self._store.delete_expired(self._clock())
            except Exception:
                log.exception("removing expired jobs failed; trying again later")
            else:
                if removed:
                    log.info("removed %d expired jobs", removed)
            await asyncio.sleep(self._settings.sweep_interval_s)


def _error_code(error: ScaleserveError) -> str:
    codes: dict[type[ScaleserveError], str] = {
        DeadlineExceeded: "deadline_exceeded",
        InvalidInput: "invalid_input",
        ModelFailed: "model_error",
    }
    return next((c for cls, c in codes.items() if isinstance(error, cls)), "error")


def encode_inputs(payloads: list[bytes]) -> bytes:
    """Per-item JSON payloads as one JSON array, as jobs keep their inputs."""
    return b"[" + b",".join(payloads) + b"]"
