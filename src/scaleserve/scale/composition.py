"""The gateway's composition parts, opened for ``serve`` and closed after it: the tenants'
vector collections, the online feature store when a served model reads features, the
pipelines with the log of their jobs' steps, and the audit log when a model is audited."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from scaleserve.audit.settings import AuditSettings
from scaleserve.audit.sink import AuditSink
from scaleserve.audit.store import AuditStore
from scaleserve.background import stop_task
from scaleserve.features.coalescing import CoalescingReads
from scaleserve.features.store import FeatureStore
from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.graph import PipelineGraph
from scaleserve.pipelines.serving import PipelineServing
from scaleserve.pipelines.steps import SqliteStepLog
from scaleserve.settings import ServeSettings
from scaleserve.vectors.store import VectorStore

log = logging.getLogger(__name__)

FEATURES_DB_FILE = "features.sqlite3"
KEEP_INTERVAL_S = 3600.0
PIPELINE_STEPS_DB_FILE = "pipeline-steps.sqlite3"


@contextlib.asynccontextmanager
async def vector_store(settings: ServeSettings) -> AsyncIterator[VectorStore]:
    store = settings.vectors.store(settings.data_dir)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def feature_store(
    settings: ServeSettings, specs: Sequence[ModelSpec]
) -> AsyncIterator[FeatureStore | None]:
    """Redis when the deployment has one, else SQLite in the data dir; ``None`` when no
    served model reads features. Reads are coalesced across concurrent requests."""
    if not any(spec.features for spec in specs):
        yield None
        return
    if settings.feast_repo:
        from scaleserve.features.backends.feast import FeastFeatureStore  # needs [feast]

        feast = FeastFeatureStore(settings.feast_repo)
        await feast.open()
        try:
            yield CoalescingReads(feast)
        finally:
            await feast.close()
        return
    async with feature_store_at(
        settings.data_dir, settings.redis_url, settings.redis_prefix
    ) as store:
        yield CoalescingReads(store)


@contextlib.asynccontextmanager
async def feature_store_at(
    data_dir: str, redis_url: str | None, redis_prefix: str
) -> AsyncIterator[FeatureStore]:
    """The deployment's feature store, opened: Redis at ``redis_url``, else the SQLite file
    in ``data_dir``."""
    async with contextlib.AsyncExitStack() as stack:
        store: FeatureStore
        if redis_url:
            from scaleserve.features.backends.redis import RedisFeatureStore
            from scaleserve.queue.backends.redis_connection import connect
            from scaleserve.redis_keys import RedisKeys

            redis = connect(redis_url)
            stack.push_async_callback(redis.aclose)
            store = RedisFeatureStore(redis, RedisKeys(redis_prefix))
        else:
            from scaleserve.features.backends.sqlite import SqliteFeatureStore

            store = SqliteFeatureStore(Path(data_dir) / FEATURES_DB_FILE)
        await store.open()
        stack.push_async_callback(store.close)
        yield store


@contextlib.asynccontextmanager
async def pipelines(
    settings: ServeSettings, graphs: Sequence[PipelineGraph], vectors: VectorStore
) -> AsyncIterator[PipelineServing | None]:
    """The pipelines served, with the log of their jobs' finished steps (in the data dir)."""
    if not graphs:
        yield None
        return
    log = SqliteStepLog(Path(settings.data_dir) / PIPELINE_STEPS_DB_FILE)
    await log.open()
    try:
        yield PipelineServing(graphs, log, vectors)
    finally:
        await log.close()


@contextlib.asynccontextmanager
async def audit_log(
    settings: ServeSettings, specs: Sequence[ModelSpec]
) -> AsyncIterator[AuditLog | None]:
    """The audit log's store and sink when a served model is audited (else ``None``), with
    a keeper that makes the coming days' partitions and drops the expired ones hourly."""
    if not any(spec.audit for spec in specs):
        yield None
        return
    store = open_audit_store(settings.audit, settings.data_dir)
    await store.open()
    sink = AuditSink(store)
    keeper = asyncio.create_task(_keep(store, settings.audit))
    try:
        await sink.start()
        yield AuditLog(store, sink)
    finally:
        await stop_task(keeper)
        await sink.close()
        await store.close()


@dataclasses.dataclass(frozen=True)
class AuditLog:
    store: AuditStore
    sink: AuditSink


def open_audit_store(audit: AuditSettings, data_dir: str) -> AuditStore:
    """The store ``audit`` names (not yet opened)."""
    if audit.on_postgres:
        from scaleserve.audit.backends.postgres import PostgresAuditStore

        return PostgresAuditStore(audit.location(data_dir), audit.schema)
    from scaleserve.audit.backends.sqlite import SqliteAuditStore

    return SqliteAuditStore(audit.location(data_dir))


async def _keep(store: AuditStore, audit: AuditSettings) -> None:
    while True:
        today = datetime.datetime.now(datetime.UTC).date()
        try:
            await store.prepare(today, audit.days_ahead)
            await store.drop_before(today - datetime.timedelta(days=audit.retention_days))
        except Exception:
            log.exception("the audit log's partitions could not be kept; trying again later")
        await asyncio.sleep(KEEP_INTERVAL_S)
