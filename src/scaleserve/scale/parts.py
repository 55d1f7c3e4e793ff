"""The gateway's parts for each backend, assembled and torn down in order.

Embedded: the queue lives in the gateway, jobs in SQLite, a job runner drives them.
RabbitMQ or NATS: the queue lives there; jobs as embedded (SQLite, a job runner driving
them through the queue).
Redis: queue and jobs live in Redis, workers drive jobs, a consumer delivers webhooks,
and with a job history (PostgreSQL) a copier keeps ended jobs there for good.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from scaleserve.api.jobs import JobsApi
from scaleserve.errors import ConfigError
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.backends.sqlite import SqliteJobStore
from scaleserve.jobs.history_copier import HistoryCopier
from scaleserve.jobs.history_retention import HistoryRetention
from scaleserve.jobs.notify import (
    RedisWebhookConsumer,
    WebhookCheck,
    WebhookNotifier,
    webhook_settings_from_env,
)
from scaleserve.jobs.runner import JobRunner, OnUsage
from scaleserve.jobs.settings import JobSettings
from scaleserve.jobs.store import JobStore
from scaleserve.jobs.webhooks import WebhookSender, WebhookSettings
from scaleserve.jobs.with_history import JobStoreWithHistory
from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.serving import PipelineServing
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.message_broker import MessageBroker
from scaleserve.queue.backends.redis_broker import RedisBroker
from scaleserve.queue.backends.redis_connection import check_durability, connect
from scaleserve.queue.broker import Broker
from scaleserve.redis_keys import RedisKeys
from scaleserve.registry.routed_broker import RoutedBroker
from scaleserve.scale.deployer import LaneBroker
from scaleserve.scale.registry_serving import RegistryServing
from scaleserve.settings import ServeSettings
from scaleserve.tenancy.backends.memory_limits import MemoryAdmission
from scaleserve.tenancy.backends.redis import RedisTenancyStore
from scaleserve.tenancy.backends.redis_limits import RedisAdmission
from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore
from scaleserve.tenancy.gate import Gate
from scaleserve.tenancy.keys import KeyHasher
from scaleserve.tenancy.limits import Admission
from scaleserve.tenancy.usage import UsageRecorder

if TYPE_CHECKING:
    from scaleserve.jobs.backends.postgres_history import PostgresJobHistory

log = logging.getLogger(__name__)

JOBS_DB_FILE = "jobs.sqlite3"
TENANTS_DB_FILE = "tenants.sqlite3"


@dataclass(frozen=True)
class GatewayParts:
    broker: Broker
    jobs: JobsApi
    gate: Gate
    specs: list[ModelSpec]
    """Every served model's public spec: the targets' and the registry's."""


@contextlib.asynccontextmanager
async def embedded_parts(
    settings: ServeSettings,
    specs: list[ModelSpec],
    socket_path: str,
    registry: RegistryServing | None = None,
    pipelines: PipelineServing | None = None,
) -> AsyncIterator[GatewayParts]:
    webhooks = webhook_settings_from_env()
    if settings.jobs.history_url:
        log.warning(
            "SCALESERVE_JOBS_HISTORY_URL is ignored: the embedded job store keeps jobs itself"
            " (a job history is for Redis mode)"
        )
    async with contextlib.AsyncExitStack() as stack:
        queue = _local_jobs_queue(settings, specs, socket_path)
        await queue.start()
        stack.push_async_callback(queue.close)
        broker, specs = await _with_registry(queue, specs, registry, stack)
        if pipelines is not None:
            broker, specs = pipelines.attach(broker, specs)
        store = SqliteJobStore(Path(settings.data_dir) / JOBS_DB_FILE)
        await store.open()
        stack.push_async_callback(store.close)
        notifier = await _notifier(stack, webhooks)
        tenants = SqliteTenancyStore(Path(settings.data_dir) / TENANTS_DB_FILE)
        gate = await _gate(stack, settings, tenants, MemoryAdmission())
        runner = JobRunner(
            store,
            broker,
            [s.name for s in specs],
            settings.jobs,
            on_finished=notifier.job_ended if notifier else None,
            on_usage=_usage_counter(gate),
        )
        await runner.start()  # closed before the gate, whose usage is flushed last
        stack.push_async_callback(runner.close)
        yield GatewayParts(
            broker,
            JobsApi(
                store, runner.submit, specs, settings.jobs, WebhookCheck(webhooks), lister=store
            ),
            gate,
            specs,
        )


@contextlib.asynccontextmanager
async def redis_parts(
    settings: ServeSettings,
    specs: list[ModelSpec],
    registry: RegistryServing | None = None,
    pipelines: PipelineServing | None = None,
) -> AsyncIterator[GatewayParts]:
    """Pipelines answer synchronously here; their jobs need the embedded job runner (the
    workers that drive jobs on Redis run models only), so they are not offered as jobs."""
    if settings.redis_url is None:
        raise ConfigError("this mode needs a Redis URL (--redis or SCALESERVE_REDIS_URL)")
    webhooks = webhook_settings_from_env()
    keys = RedisKeys(settings.redis_prefix)
    async with contextlib.AsyncExitStack() as stack:
        redis = connect(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        await check_durability(redis, settings.durable)
        queue = RedisBroker(redis, specs, keys)
        await queue.start()
        stack.push_async_callback(queue.close)
        broker, specs = await _with_registry(queue, specs, registry, stack, redis)
        queues = broker.queue_for if isinstance(broker, RoutedBroker) else None
        store = RedisJobStore(redis, specs, keys, queues)
        await store.open()
        stack.push_async_callback(store.close)
        notifier = await _notifier(stack, webhooks)
        if notifier is not None:
            consumer = RedisWebhookConsumer(redis, store, notifier, keys)
            await consumer.start()
            stack.push_async_callback(consumer.close)
        history = await _history(stack, settings.jobs, redis, store, keys)
        read_store: JobStore = store if history is None else JobStoreWithHistory(store, history)
        tenants = RedisTenancyStore(redis, keys)
        gate = await _gate(stack, settings, tenants, RedisAdmission(redis, keys))
        job_specs = specs
        if pipelines is not None:
            broker, specs = pipelines.attach(broker, specs)
        yield GatewayParts(
            broker,
            JobsApi(
                read_store,
                store.submit,
                job_specs,
                settings.jobs,
                WebhookCheck(webhooks),
                lister=history,
            ),
            gate,
            specs,
        )


def _local_jobs_queue(
    settings: ServeSettings, specs: list[ModelSpec], socket_path: str
) -> EmbeddedBroker | MessageBroker:
    """The queue beside the SQLite job store: RabbitMQ or NATS at ``queue_url``, else the
    gateway's own."""
    url = settings.queue_url
    if url is None:
        return EmbeddedBroker(socket_path, specs)
    if url.startswith("nats://") or url.startswith("tls://"):
        from scaleserve.queue.backends.nats_broker import nats_broker

        return nats_broker(url, specs, settings.redis_prefix)
    from scaleserve.queue.backends.rabbit_broker import rabbit_broker

    return rabbit_broker(url, specs, settings.redis_prefix)


def gateway_parts(
    settings: ServeSettings,
    specs: list[ModelSpec],
    socket_path: str,
    registry: RegistryServing | None = None,
    pipelines: PipelineServing | None = None,
) -> contextlib.AbstractAsyncContextManager[GatewayParts]:
    if settings.redis_url is not None:
        return redis_parts(settings, specs, registry, pipelines)
    return embedded_parts(settings, specs, socket_path, registry, pipelines)


async def _with_registry(
    queue: LaneBroker,
    specs: list[ModelSpec],
    registry: RegistryServing | None,
    stack: contextlib.AsyncExitStack,
    redis: Redis | None = None,
) -> tuple[Broker, list[ModelSpec]]:
    """The broker the routes use and every public spec, once the registry models (if any)
    are served through ``queue``."""
    if registry is None:
        return queue, specs
    broker, registry_specs = await registry.attach(queue, stack, redis)
    return broker, [*specs, *registry_specs]


async def _gate(
    stack: contextlib.AsyncExitStack,
    settings: ServeSettings,
    tenants: SqliteTenancyStore | RedisTenancyStore,
    admission: Admission,
) -> Gate:
    """The tenancy gate over ``tenants`` (keys and usage); its usage is flushed on close."""
    await tenants.open()
    stack.push_async_callback(tenants.close)
    stack.push_async_callback(admission.close)
    pepper = settings.tenancy.key_pepper
    hasher = KeyHasher(pepper.encode() if pepper else await tenants.pepper())
    usage = UsageRecorder(tenants, flush_interval_s=settings.tenancy.usage_flush_interval_s)
    await usage.start()
    stack.push_async_callback(usage.close)
    return Gate(
        tenants,
        tenants,
        admission,
        usage,
        hasher,
        auth=settings.tenancy.auth,
        key_cache_ttl_s=settings.tenancy.key_cache_ttl_s,
    )


async def _history(
    stack: contextlib.AsyncExitStack,
    jobs: JobSettings,
    redis: Redis,
    store: RedisJobStore,
    keys: RedisKeys,
) -> PostgresJobHistory | None:
    """The job history, when one is configured, with the copier that fills it."""
    if not jobs.history_url:
        return None
    # Imported here: psycopg is an extra, and a service without a history must start without it.
    from scaleserve.jobs.backends.postgres_history import PostgresJobHistory

    history = PostgresJobHistory(jobs.history_url, jobs.history_schema)
    await history.open()
    stack.push_async_callback(history.close)
    copier = HistoryCopier(redis, store, history, keys)
    await copier.start()  # stopped before the history closes
    stack.push_async_callback(copier.close)
    retention = HistoryRetention(history, jobs.history_retention_days)
    await retention.start()
    stack.push_async_callback(retention.close)
    return history


def _usage_counter(gate: Gate) -> OnUsage:
    """Jobs' compute seconds, counted as their tenants' usage by the gate's recorder."""

    def count(tenant: str, model: str, compute_s: float) -> None:
        gate.usage.record(tenant, model, compute_s=compute_s)

    return count


async def _notifier(
    stack: contextlib.AsyncExitStack, webhooks: WebhookSettings | None
) -> WebhookNotifier | None:
    if webhooks is None:
        return None
    notifier = WebhookNotifier(WebhookSender(webhooks))
    stack.push_async_callback(notifier.close)
    return notifier
