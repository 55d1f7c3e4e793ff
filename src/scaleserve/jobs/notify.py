"""Delivering ended jobs to their webhooks.

Embedded: the job runner calls ``WebhookNotifier.job_ended`` as a job ends. With Redis, an
ended job with a webhook is put on the webhooks stream by the same Lua step that ended it;
``RedisWebhookConsumer`` in each gateway reads it through a consumer group, so exactly one
gateway delivers it, and takes over deliveries a dead gateway left unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import cast

import orjson
from redis.asyncio import Redis

from scaleserve.background import stop_task, stop_tasks
from scaleserve.errors import WebhookRefused
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.record import Job
from scaleserve.jobs.webhooks import WebhookSender, WebhookSettings, check_url
from scaleserve.observe import tracing
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import WEBHOOK_GROUP, RedisKeys

log = logging.getLogger(__name__)


def webhook_settings_from_env() -> WebhookSettings | None:
    """``SCALESERVE_WEBHOOK_SECRET`` turns webhooks on; ``SCALESERVE_WEBHOOK_ALLOW`` lists
    hosts, IPs or CIDRs that may be called even though private (comma-separated)."""
    secret = os.environ.get("SCALESERVE_WEBHOOK_SECRET", "")
    if not secret:
        return None
    allowed = frozenset(
        h.strip() for h in os.environ.get("SCALESERVE_WEBHOOK_ALLOW", "").split(",") if h.strip()
    )
    return WebhookSettings(secret=secret.encode(), allowed_hosts=allowed)


@dataclass(frozen=True)
class WebhookCheck:
    """Refuses a webhook URL at submission (or every one, when webhooks are off)."""

    settings: WebhookSettings | None

    def __call__(self, url: str) -> None:
        if self.settings is None:
            raise WebhookRefused("webhooks are not configured here (set SCALESERVE_WEBHOOK_SECRET)")
        check_url(url, self.settings)


class WebhookNotifier:
    """Delivers each ended job's view to its webhook, in the background."""

    def __init__(self, sender: WebhookSender) -> None:
        self._sender = sender
        self._deliveries: set[asyncio.Task[bool]] = set()

    async def job_ended(self, job: Job) -> None:
        if job.webhook_url is None:
            return
        task = asyncio.create_task(self.deliver(job))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def deliver(self, job: Job) -> bool:
        if job.webhook_url is None:
            return True
        with tracing.resume(job.trace, "deliver webhook", {"scaleserve.job.id": job.id}) as span:
            result = await self._sender.deliver(job.webhook_url, job.id, orjson.dumps(job.view()))
            if span is not None:
                span.set_attribute("scaleserve.webhook.attempts", result.attempts)
                span.set_attribute("scaleserve.webhook.delivered", result.delivered)
        if not result.delivered:
            log.warning(
                "webhook of job %s not delivered after %d attempts: %s",
                job.id,
                result.attempts,
                result.error or result.status_code,
            )
        return result.delivered

    async def close(self) -> None:
        await stop_tasks(list(self._deliveries))
        await self._sender.aclose()


class RedisWebhookConsumer:
    """Reads the webhooks stream as one consumer of the ``webhooks`` group."""

    def __init__(
        self,
        redis: Redis,
        store: RedisJobStore,
        notifier: WebhookNotifier,
        keys: RedisKeys,
        claim_idle_s: float = 120.0,
    ) -> None:
        self._redis = redis
        self._store = store
        self._notifier = notifier
        self._stream = keys.webhooks()
        self._consumer = f"gateway-{os.getpid()}-{os.urandom(3).hex()}"
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await redis_wire.ensure_group(self._redis, self._stream, WEBHOOK_GROUP)
        self._task = asyncio.create_task(self._consume())

    async def close(self) -> None:
        await stop_task(self._task)

    async def _consume(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                log.warning("webhook stream unreadable (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _round(self) -> None:
        _, claimed, _ = await self._redis.xautoclaim(
            self._stream, WEBHOOK_GROUP, self._consumer, self._claim_idle_ms, "0-0", count=16
        )
        answer = cast(
            redis_wire.StreamRead,
            await self._redis.xreadgroup(
                WEBHOOK_GROUP, self._consumer, {self._stream: ">"}, count=16, block=1000
            )
            or [],
        )
        entries = list(claimed) + [e for _, stream_entries in answer for e in stream_entries]
        for entry_id, fields in entries:
            job = await self._store.load(fields[b"job"].decode())
            if job is not None:
                await self._notifier.deliver(job)
            await self._redis.xack(self._stream, WEBHOOK_GROUP, entry_id)
