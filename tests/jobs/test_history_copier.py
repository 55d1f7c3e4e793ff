"""Ended jobs copied from Redis to the PostgreSQL job history (both real): every way a job
ends, a history that is down, a copier that died with entries pending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql
from redis.asyncio import Redis

from scaleserve.errors import HistoryUnavailable
from scaleserve.jobs.backends.postgres_history import PostgresJobHistory
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.history_copier import CopierSettings, HistoryCopier
from scaleserve.jobs.record import Job, JobStatus
from scaleserve.redis_keys import HISTORY_GROUP, RedisKeys
from tests.queue.test_redis import SPEC, Tens, job, worker


@pytest.fixture
async def store(redis: Redis, redis_keys: RedisKeys) -> AsyncIterator[RedisJobStore]:
    jobs = RedisJobStore(redis, [SPEC], redis_keys)
    await jobs.open()
    yield jobs
    await jobs.close()


@pytest.fixture
async def history(pg_url: str, pg_schema: str) -> AsyncIterator[PostgresJobHistory]:
    kept = PostgresJobHistory(pg_url, pg_schema)
    await kept.open()
    yield kept
    await kept.close()


def copier(
    redis: Redis,
    store: RedisJobStore,
    history: PostgresJobHistory,
    keys: RedisKeys,
    claim_idle_s: float = 60.0,
) -> HistoryCopier:
    return HistoryCopier(redis, store, history, keys, CopierSettings(claim_idle_s=claim_idle_s))


async def start(one: HistoryCopier) -> None:
    """Its group made, without its background task: the test drives ``copy_once``."""
    await HistoryCopier.start(one)
    await one.close()


async def copy_all(one: HistoryCopier) -> int:
    copied = 0
    while acked := await one.copy_once(block=False):
        copied += acked
    return copied


async def ended_jobs(store: RedisJobStore, redis: Redis, keys: RedisKeys) -> list[Job]:
    """Four jobs ended four ways (succeeded, failed, expired by their worker, cancelled)."""
    ok, failing, late, cancelled = (
        job(inputs=b"[7]"),
        job(inputs=b"[-1]"),
        job(inputs=b"[1]", deadline_s=0.001),
        job(inputs=b"[2]"),
    )
    await store.submit([cancelled])
    assert await store.cancel(cancelled.id, "t", 1.0, 100.0) is not None
    await asyncio.sleep(0.01)  # the late job's deadline passes before it is queued
    async with worker(redis, keys, Tens()), asyncio.timeout(20):
        for batch in ([ok, late], [failing]):  # a failing item fails its whole batch
            await store.submit(batch)
            for queued in batch:
                await store.wait_until_ended(queued.id, "t", timeout_s=20)
    loaded = await store.load_many([ok.id, failing.id, late.id, cancelled.id])
    assert [j.status if j else None for j in loaded] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.EXPIRED,
        JobStatus.CANCELLED,
    ]
    return [j for j in loaded if j is not None]


async def pending(redis: Redis, keys: RedisKeys) -> int:
    summary = await redis.xpending(keys.ended_jobs(), HISTORY_GROUP)
    return int(summary["pending"])


async def drop_table(pg_url: str, pg_schema: str) -> None:
    drop = sql.SQL("DROP TABLE {}.job_history").format(sql.Identifier(pg_schema))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(drop)


async def copied_while_down(
    redis: Redis,
    redis_keys: RedisKeys,
    store: RedisJobStore,
    history: PostgresJobHistory,
    pg_url: str,
    pg_schema: str,
) -> tuple[HistoryCopier, list[Job]]:
    """A started copier whose copy of four ended jobs failed (the history's table gone)."""
    one = copier(redis, store, history, redis_keys)
    await start(one)
    jobs = await ended_jobs(store, redis, redis_keys)
    await drop_table(pg_url, pg_schema)
    with pytest.raises(HistoryUnavailable):
        await one.copy_once(block=False)
    return one, jobs


async def test_every_way_a_job_ends_is_copied_exactly(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore, history: PostgresJobHistory
) -> None:
    one = copier(redis, store, history, redis_keys)
    await start(one)
    jobs = await ended_jobs(store, redis, redis_keys)
    assert await copy_all(one) == 4
    assert await history.get_many([j.id for j in jobs], "t") == jobs
    assert await pending(redis, redis_keys) == 0


async def test_nothing_is_lost_while_the_history_is_down(
    redis: Redis,
    redis_keys: RedisKeys,
    store: RedisJobStore,
    history: PostgresJobHistory,
    pg_url: str,
    pg_schema: str,
) -> None:
    one, jobs = await copied_while_down(redis, redis_keys, store, history, pg_url, pg_schema)
    assert await pending(redis, redis_keys) == 4  # read, not acknowledged
    await history.open()  # the database is back
    assert await copy_all(one) == 4  # its own pending entries, read again
    assert await history.get_many([j.id for j in jobs], "t") == jobs
    assert await pending(redis, redis_keys) == 0


async def test_entries_a_dead_copier_left_pending_are_claimed(
    redis: Redis,
    redis_keys: RedisKeys,
    store: RedisJobStore,
    history: PostgresJobHistory,
    pg_url: str,
    pg_schema: str,
) -> None:
    # a copier fails to copy, and then its gateway dies
    _, jobs = await copied_while_down(redis, redis_keys, store, history, pg_url, pg_schema)
    await history.open()
    survivor = copier(redis, store, history, redis_keys, claim_idle_s=0.0)
    await start(survivor)
    assert await survivor.copy_once(block=False) == 4  # claimed, not read anew
    assert await history.get_many([j.id for j in jobs], "t") == jobs
    assert await pending(redis, redis_keys) == 0


async def test_a_job_gone_from_redis_before_its_copy_is_let_go(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore, history: PostgresJobHistory
) -> None:
    one = copier(redis, store, history, redis_keys)
    await start(one)
    cancelled = job()
    await store.submit([cancelled])
    await store.cancel(cancelled.id, "t", 1.0, 100.0)
    await redis.delete(redis_keys.job(cancelled.id))  # its retention passed meanwhile
    assert await one.copy_once(block=False) == 1
    assert await history.get(cancelled.id, "t") is None
    assert await pending(redis, redis_keys) == 0


async def test_the_copier_task_copies_as_jobs_end(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore, history: PostgresJobHistory
) -> None:
    running = copier(redis, store, history, redis_keys)
    await running.start()
    try:
        cancelled = job()
        await store.submit([cancelled])
        await store.cancel(cancelled.id, "t", 1.0, 100.0)
        async with asyncio.timeout(10):
            # copied by another task of this loop, through PostgreSQL: nothing to await
            while await history.get(cancelled.id, "t") is None:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await running.close()
