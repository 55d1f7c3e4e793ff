"""The gateway's parts for each backend, assembled and torn down in order.

Embedded: the queue lives in the gateway, jobs in SQLite, a job runner drives them.
Redis: queue and jobs live in Redis, workers drive jobs, a consumer delivers webhooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from scaleserve.api.jobs import JobsApi
from scaleserve.errors import ConfigError
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.backends.sqlite import SqliteJobStore
from scaleserve.jobs.notify import (
    RedisWebhookConsumer,
    WebhookCheck,
    WebhookNotifier,
    webhook_settings_from_env,
)
from scaleserve.jobs.runner import JobRunner
from scaleserve.jobs.webhooks import WebhookSender, WebhookSettings
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.redis_broker import RedisBroker
from scaleserve.queue.backends.redis_connection import check_durability, connect
from scaleserve.queue.broker import Broker
from scaleserve.redis_keys import RedisKeys
from scaleserve.settings import ServeSettings

JOBS_DB_FILE = "jobs.sqlite3"


@dataclass(frozen=True)
class GatewayParts:
    broker: Broker
    jobs: JobsApi


@contextlib.asynccontextmanager
async def embedded_parts(
    settings: ServeSettings, specs: list[ModelSpec], socket_path: str
) -> AsyncIterator[GatewayParts]:
    webhooks = webhook_settings_from_env()
    async with contextlib.AsyncExitStack() as stack:
        broker = EmbeddedBroker(socket_path, specs)
        await broker.start()
        stack.push_async_callback(broker.close)
        store = SqliteJobStore(Path(settings.data_dir) / JOBS_DB_FILE)
        await store.open()
        stack.push_async_callback(store.close)
        notifier = await _notifier(stack, webhooks)
        runner = JobRunner(
            store,
            broker,
            [s.name for s in specs],
            settings.jobs,
            on_finished=notifier.job_ended if notifier else None,
        )
        await runner.start()
        stack.push_async_callback(runner.close)
        yield GatewayParts(
            broker, JobsApi(store, runner.submit, specs, settings.jobs, WebhookCheck(webhooks))
        )


@contextlib.asynccontextmanager
async def redis_parts(
    settings: ServeSettings, specs: list[ModelSpec]
) -> AsyncIterator[GatewayParts]:
    if settings.redis_url is None:
        raise ConfigError("this mode needs a Redis URL (--redis or SCALESERVE_REDIS_URL)")
    webhooks = webhook_settings_from_env()
    keys = RedisKeys(settings.redis_prefix)
    async with contextlib.AsyncExitStack() as stack:
        redis = connect(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        await check_durability(redis, settings.durable)
        broker = RedisBroker(redis, specs, keys)
        await broker.start()
        stack.push_async_callback(broker.close)
        store = RedisJobStore(redis, specs, keys)
        notifier = await _notifier(stack, webhooks)
        if notifier is not None:
            consumer = RedisWebhookConsumer(redis, store, notifier, keys)
            await consumer.start()
            stack.push_async_callback(consumer.close)
        yield GatewayParts(
            broker, JobsApi(store, store.submit, specs, settings.jobs, WebhookCheck(webhooks))
        )


def gateway_parts(
    settings: ServeSettings, specs: list[ModelSpec], socket_path: str
) -> contextlib.AbstractAsyncContextManager[GatewayParts]:
    if settings.redis_url is not None:
        return redis_parts(settings, specs)
    return embedded_parts(settings, specs, socket_path)


async def _notifier(
    stack: contextlib.AsyncExitStack, webhooks: WebhookSettings | None
) -> WebhookNotifier | None:
    if webhooks is None:
        return None
    notifier = WebhookNotifier(WebhookSender(webhooks))
    stack.push_async_callback(notifier.close)
    return notifier
