"""Jobs in Redis, shared by every gateway and worker.

A job is a hash, its item outputs a second hash (first writer wins per item), its events a
stream with ids ``0-<seq>``. Submitting records the job and queues its items in one Lua
step; workers move it to running, record outputs and end it (see the scripts in
``scaleserve/queue/backends/lua``). Ended jobs expire with their retention time.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from scaleserve.errors import Overloaded
from scaleserve.jobs.record import Job, JobEvent, JobStatus
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS, unavailable
from scaleserve.queue.backends.redis_scripts import Scripts
from scaleserve.queue.backends.redis_wire import RawFields
from scaleserve.redis_keys import RedisKeys

_FLOATS = ("created_at", "deadline_at", "started_at", "finished_at", "expires_at")


class RedisJobStore:
    """The API's view of jobs kept in Redis (``submit``, ``get``, ``cancel``, events)."""

    def __init__(self, redis: Redis, specs: list[ModelSpec], keys: RedisKeys | None = None) -> None:
        self._redis = redis
        self._keys = keys or RedisKeys()
        self._bounds = {spec.name: spec.max_queue_items for spec in specs}
        self._scripts = Scripts.register(redis)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def submit(self, job: Job) -> None:
        """Record ``job`` and queue its items in one step; durable (as Redis is) on return."""
        payloads = job.item_payloads()
        items = [
            redis_wire.job_item_fields(p, job.deadline_at, job.created_at, job.id, index)
            for index, p in enumerate(payloads)
        ]
        record = _record_fields(job, len(payloads))
        keys = self._keys
        try:
            accepted = await self._scripts.submit_job(
                keys=[
                    keys.stream(job.model),
                    keys.depth(job.model),
                    keys.job(job.id),
                    keys.job_events(job.id),
                ],
                args=[
                    self._bounds[job.model],
                    len(items),
                    len(items[0]),
                    len(record),
                    *record,
                    *redis_wire.flatten(items),
                ],
            )
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        if accepted == -1:
            raise Overloaded(job.model, self._bounds[job.model])

    async def get(self, job_id: str, tenant: str) -> Job | None:
        job = await self.load(job_id)
        return job if job is not None and job.tenant == tenant else None

    async def load(self, job_id: str) -> Job | None:
        """The job whoever owns it: for scaleserve's own use, never for a client."""
        try:
            fields = cast(RawFields, await self._redis.hgetall(self._keys.job(job_id)))
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        return _job(job_id, fields) if fields else None

    async def cancel(self, job_id: str, tenant: str, now: float, expires_at: float) -> Job | None:
        keys = self._keys
        try:
            done = await self._scripts.cancel_job(
                keys=[
                    keys.job(job_id),
                    keys.job_outputs(job_id),
                    keys.job_events(job_id),
                    keys.webhooks(),
                ],
                args=[tenant, now, expires_at - now, job_id],
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
        try:
            await self._redis.xread(
                {self._keys.job_events(job_id): f"0-{after_seq}"},
                block=max(1, int(timeout_s * 1000)),
                count=1,
            )
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc


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
    return [value for pair in record.items() for value in pair]


def _job(job_id: str, fields: dict[bytes, bytes]) -> Job:
    text = {k.decode(): v for k, v in fields.items()}
    floats = {name: float(text[name]) if name in text else None for name in _FLOATS}
    return Job(
        id=job_id,
        tenant=text["tenant"].decode(),
        model=text["model"].decode(),
        status=JobStatus(text["status"].decode()),
        inputs=text["inputs"],
        created_at=floats["created_at"] or time.time(),
        deadline_at=floats["deadline_at"] or 0.0,
        attempts=int(text.get("attempts", b"0")),
        started_at=floats["started_at"],
        finished_at=floats["finished_at"],
        outputs=text.get("outputs"),
        error_code=text["error_code"].decode() if "error_code" in text else None,
        error=text["error"].decode() if "error" in text else None,
        webhook_url=text["webhook_url"].decode() if "webhook_url" in text else None,
        expires_at=floats["expires_at"],
    )
