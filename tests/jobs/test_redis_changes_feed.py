"""The job changes feed on Redis: waiters on a job wake when it ends, also when the feed's
connection was lost meanwhile."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.record import JobStatus
from scaleserve.redis_keys import RedisKeys
from tests.queue.test_redis import SPEC, Tens, job, worker


async def kill_blocked_readers(redis: Redis) -> int:
    """Close, from Redis's side, every connection blocked in ``XREAD`` (here: the feed's)."""
    killed = 0
    for client in await redis.client_list():
        if client["cmd"] == "xread":
            killed += await redis.client_kill_filter(_id=client["id"])
    return killed


async def test_waiters_wake_after_the_feed_lost_its_connection(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    await store.open()
    try:
        queued = job(inputs=b"[7]")
        await store.submit([queued])
        waiting = asyncio.create_task(store.wait_until_ended(queued.id, "t", timeout_s=60))
        async with asyncio.timeout(10):
            while not await kill_blocked_readers(redis):  # noqa: ASYNC110 - Redis's state
                await asyncio.sleep(0.01)
        async with worker(redis, redis_keys, Tens()), asyncio.timeout(20):
            ended = await waiting  # well before its own 60 s: woken, not timed out
        assert ended is not None and ended.status is JobStatus.SUCCEEDED
        assert ended.outputs == b"[70]"
    finally:
        await store.close()


async def test_many_jobs_ended_by_one_batch_wake_each_waiter(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    await store.open()
    try:
        jobs = [job(inputs=f"[{n}]".encode()) for n in range(12)]
        await store.submit(jobs)
        waiters = [store.wait_until_ended(j.id, "t", timeout_s=60) for j in jobs]
        async with worker(redis, redis_keys, Tens()), asyncio.timeout(20):
            ended = await asyncio.gather(*waiters)
        expected = [f"[{10 * n}]".encode() for n in range(12)]
        assert [e.outputs if e else None for e in ended] == expected
    finally:
        await store.close()
