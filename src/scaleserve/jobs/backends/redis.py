"""Jobs in Redis, shared by every gateway and worker.

A job is a hash, its item outputs a second hash (first writer wins per item), its events a
stream with ids ``0-<seq>``. Submitting records jobs and queues their items in one Lua
step, however many jobs are submitted together; workers move them to running, record
outputs and end them (see the scripts in ``scaleserve/queue/backends/lua``). Ended jobs
expire with their retention time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from scaleserve.background import stop_task
from scaleserve.errors import JobsExist, Overloaded
from scaleserve.jobs.record import Job, JobEvent, JobStatus
from scaleserve.jobs.watchers import JobWatchers, until_changed, until_ended
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS, unavailable
from scaleserve.queue.backends.redis_link import RedisLink, pairs, stream_read
from scaleserve.queue.backends.redis_scripts import SCRIPTS, run
from scaleserve.queue.backends.redis_wire import RawFields
from scaleserve.redis_keys import RedisKeys

log = logging.getLogger(__name__)

FEED_BLOCK_MS = 1000


JobQueues = Callable[[str, str], tuple[str, int] | None]
"""``(model, tenant)`` -> the queue (a registry model's lane) and its bound, or ``None``."""


class RedisJobStore:
    """The API's view of jobs kept in Redis (``submit``, ``get``, ``cancel``, events)."""

    def __init__(
        self,
        redis: Redis,
        specs: list[ModelSpec],
        keys: RedisKeys | None = None,
        queues: JobQueues | None = None,
    ) -> None:
        self._redis = redis
        self._link = RedisLink.like(redis)  # submitting and reading: the hot path
        self._keys = keys or RedisKeys()
        self._bounds = {spec.name: spec.max_queue_items for spec in specs}
        self._queues = queues
        self._watchers = JobWatchers()
        self._feed_link = RedisLink.like(redis)  # its blocking reads hold a connection
        self._feed: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            await SCRIPTS.load(self._link)
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        self._feed = asyncio.create_task(self._follow_changes())

    async def close(self) -> None:
        await stop_task(self._feed)
        await self._feed_link.close()
        await self._link.close()

    async def submit(self, jobs: Sequence[Job]) -> None:
        """Record ``jobs`` and queue their items in one step, all or none: ``Overloaded``
        (nothing recorded) when a model's bound would be passed, ``JobsExist`` when one of
        their ids is taken. Durable (as Redis is) on return."""
        queue_of = [self._queue(job) for job in jobs]
        queues = list(dict.fromkeys(queue_of))
        keys = [key for q, _ in queues for key in (self._keys.stream(q), self._keys.depth(q))]
        args: list[Any] = [len(queues), *(bound for _, bound in queues)]
        for job, queue in zip(jobs, queue_of, strict=True):
            keys += [self._keys.job(job.id), self._keys.job_events(job.id)]
            args += _submission(job, queues.index(queue) + 1)
        try:
            refused = await SCRIPTS.submit_jobs(self._link, keys, args)
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        if int(refused) == -1:
            raise JobsExist()
        if refused:
            full, bound = queues[int(refused) - 1]
            raise Overloaded(full, bound)

    def _queue(self, job: Job) -> tuple[str, int]:
        """The queue a job's items go to, and its bound: a registry model's version is
        chosen for the job's tenant, as for a request of theirs."""
        routed = self._queues(job.model, job.tenant) if self._queues is not None else None
        return routed or (job.model, self._bounds[job.model])

    async def get(self, job_id: str, tenant: str) -> Job | None:
        job = await self.load(job_id)
        return job if job is not None and job.tenant == tenant else None

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        """Each job (in order) if it exists and belongs to ``tenant``: one round trip."""
        jobs = await self.load_many(job_ids)
        return [job if job is not None and job.tenant == tenant else None for job in jobs]

    async def load_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        """``load`` of each id, in order, in one round trip."""
        if not job_ids:
            return []
        try:
            found = [
                pairs(flat)
                for flat in await run(self._link, [("HGETALL", self._keys.job(i)) for i in job_ids])
            ]
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        return [
            _job(job_id, fields) if fields else None
            for job_id, fields in zip(job_ids, found, strict=True)
        ]

    async def load(self, job_id: str) -> Job | None:
        """The job whoever owns it: for scaleserve's own use, never for a client."""
        try:
            found = pairs(await self._link.execute_command("HGETALL", self._keys.job(job_id)))
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        return _job(job_id, found) if found else None

    async def cancel(self, job_id: str, tenant: str, now: float, expires_at: float) -> Job | None:
        keys = self._keys
        try:
            done = await SCRIPTS.cancel_job(
                self._link,
                [
                    keys.job(job_id),
                    keys.job_outputs(job_id),
                    keys.job_events(job_id),
                    keys.webhooks(),
                    keys.job_changes(),
                    keys.ended_jobs(),
                ],
                [tenant, now, expires_at - now, job_id],
            )
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        return await self.get(job_id, tenant) if done == 1 else None

    async def events_after(self, job_id: str, after_seq: int) -> list[JobEvent]:
        try:
            entries = cast(
                list[tuple[bytes, RawFields]],
                await self._redis.xrange(self._keys.job_events(job_id), min=f"0-{after_seq + 1}"),
            )
            fields = cast(RawFields, await self._redis.hgetall(self._keys.job(job_id)))
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        if not entries or not fields:
            return []
        # the data of every event is the job as it is now: the final event carries the result
        data = orjson.dumps(_job(job_id, fields).view())
        return [
            JobEvent(job_id, int(entry_id.split(b"-")[1]), JobStatus(values[b"s"].decode()), data)
            for entry_id, values in entries
        ]

    async def wait_for_event(self, job_id: str, after_seq: int, timeout_s: float) -> None:
        await until_changed(
            self._watchers, job_id, lambda: self._has_event_after(job_id, after_seq), timeout_s
        )

    async def wait_until_ended(
        self,
        job_id: str,
        tenant: str,
        timeout_s: float,
        first_state: Awaitable[Job] | None = None,
    ) -> Job | None:
        return await until_ended(
            self._watchers, job_id, lambda: self.get(job_id, tenant), timeout_s, first_state
        )

    async def _has_event_after(self, job_id: str, after_seq: int) -> bool:
        read = ("XRANGE", self._keys.job_events(job_id), f"0-{after_seq + 1}", "+", "COUNT", 1)
        try:
            return bool(await self._link.execute_command(*read))
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc

    async def _feed_tail(self, feed: str) -> str:
        """The id of the feed's newest entry: reading after it misses no change made from
        now on (``$`` would miss those made between a read that timed out and the next)."""
        while True:
            try:
                newest = await self._feed_link.execute_command(
                    "XREVRANGE", feed, "+", "-", "COUNT", 1
                )
                return _entry_id(newest)
            except REDIS_ERRORS as exc:
                log.warning("reading the job changes feed failed (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def _follow_changes(self) -> None:
        """Wake the local waiters of every job the job scripts announce as changed. After a
        failed read every waiter looks again: changes may have been missed meanwhile."""
        feed = self._keys.job_changes()
        last_id = await self._feed_tail(feed)
        while True:
            read = ("XREAD", "COUNT", 1000, "BLOCK", FEED_BLOCK_MS, "STREAMS", feed, last_id)
            try:
                answer = await self._feed_link.execute_command(*read, block_s=FEED_BLOCK_MS / 1000)
            except REDIS_ERRORS as exc:
                log.warning("reading the job changes feed failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                self._watchers.notify_all()
                continue
            for _, entries in stream_read(answer):
                for entry_id, fields in entries:
                    last_id = entry_id.decode()
                    hashes = fields.get(b"jobs", b"").decode().split()
                    self._watchers.notify_many(self._keys.job_id_of(h) for h in hashes)


def _entry_id(newest: Any) -> str:
    """The id of XREVRANGE's one entry, or the start of the stream when it is empty."""
    if not newest:
        return "0-0"
    entry_id = newest[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _submission(job: Job, model: int) -> list[Any]:
    """What ``submit_jobs.lua`` takes of one job: its model's number, counts, its record's
    field/value pairs, then its items' stream entries."""
    payloads = job.item_payloads()
    items = [
        redis_wire.job_item_fields(
            p, job.deadline_at, job.created_at, job.id, index, trace=job.trace or ""
        )
        for index, p in enumerate(payloads)
    ]
    record = _record_fields(job, len(payloads))
    return [model, len(items), len(items[0]), len(record), *record, *redis_wire.flatten(items)]


def _record_fields(job: Job, items: int) -> list[Any]:
    record: dict[str, Any] = {
        "tenant": job.tenant,
        "model": job.model,
        "status": job.status.value,
        "inputs": job.inputs,
        "created_at": repr(job.created_at),
        "deadline_at": repr(job.deadline_at),
        "attempts": 0,
        "n": items,
    }
    if job.webhook_url is not None:
        record["webhook_url"] = job.webhook_url
    if job.trace:
        record["trace"] = job.trace
    return [value for pair in record.items() for value in pair]


def _job(job_id: str, fields: dict[bytes, bytes]) -> Job:
    def text(name: bytes) -> str | None:
        value = fields.get(name)
        return None if value is None else value.decode()

    def number(name: bytes) -> float | None:
        value = fields.get(name)
        return None if value is None else float(value)

    return Job(
        id=job_id,
        tenant=fields[b"tenant"].decode(),
        model=fields[b"model"].decode(),
        status=JobStatus(fields[b"status"].decode()),
        inputs=fields[b"inputs"],
        created_at=number(b"created_at") or time.time(),
        deadline_at=number(b"deadline_at") or 0.0,
        attempts=int(fields.get(b"attempts", b"0")),
        started_at=number(b"started_at"),
        finished_at=number(b"finished_at"),
        outputs=fields.get(b"outputs"),
        error_code=text(b"error_code"),
        error=text(b"error"),
        webhook_url=text(b"webhook_url"),
        expires_at=number(b"expires_at"),
        trace=text(b"trace"),
    )
