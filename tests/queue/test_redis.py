"""The Redis queue and job store, in one event loop against the real Redis on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis

import scaleserve
from scaleserve.errors import ConfigError, ModelFailed, Overloaded, QueueUnavailable
from scaleserve.jobs.backends.redis import RedisJobStore
from scaleserve.jobs.record import Job, JobStatus, new_job_id
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.redis_broker import RedisBroker
from scaleserve.queue.backends.redis_connection import check_durability, connect
from scaleserve.queue.backends.redis_source import RedisSourceSettings, RedisWorkSource
from scaleserve.redis_keys import RedisKeys
from scaleserve.worker.loop import batch_policy, work_loop
from scaleserve.worker.runner import ModelRunner


class Tens(scaleserve.Model):
    """Multiplies by ten; -1 raises. Counts every item it runs."""

    name = "tens"
    max_batch_size = 4
    max_queue_items = 50

    def __init__(self) -> None:
        self.ran: list[int] = []

    def predict(self, batch: list[int]) -> list[int]:
        self.ran.extend(batch)
        if -1 in batch:
            raise RuntimeError("minus one")
        return [x * 10 for x in batch]


SPEC = ModelSpec.from_class(Tens)
FAST_CLAIMS = RedisSourceSettings(
    claim_idle_s=0.2, claim_every_s=0.05, max_deliveries=3, block_ms=50
)


@contextlib.asynccontextmanager
async def gateway(redis: Redis, keys: RedisKeys) -> AsyncIterator[RedisBroker]:
    broker = RedisBroker(redis, [SPEC], keys)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


@contextlib.asynccontextmanager
async def worker(
    redis: Redis, keys: RedisKeys, model: Tens, settings: RedisSourceSettings = FAST_CLAIMS
) -> AsyncIterator[RedisWorkSource]:
    source = RedisWorkSource(redis, SPEC, keys, settings)
    await source.start()
    task = asyncio.create_task(work_loop(source, ModelRunner(SPEC, model), batch_policy(SPEC)))
    try:
        yield source
    finally:
        source.request_stop()
        async with asyncio.timeout(10):
            await task


async def depth_reaches(redis: Redis, keys: RedisKeys, count: int) -> None:
    for _ in range(1000):
        if int(await redis.get(keys.depth("tens")) or 0) >= count:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the queue never held {count} items")


def payloads(*values: int) -> list[bytes]:
    return [orjson.dumps(v) for v in values]


def job(model: str = "tens", inputs: bytes = b"[1,2,3]", deadline_s: float = 60) -> Job:
    now = time.time()
    return Job(
        id=new_job_id(),
        tenant="t",
        model=model,
        status=JobStatus.QUEUED,
        inputs=inputs,
        created_at=now,
        deadline_at=now + deadline_s,
    )


async def until_ended(store: RedisJobStore, job_id: str) -> Job:
    async with asyncio.timeout(30):
        while True:
            found = await store.get(job_id, "t")
            assert found is not None
            if found.status.terminal:
                return found
            await store.wait_for_event(job_id, 0, timeout_s=0.2)


async def test_sync_request_round_trips_in_order(redis: Redis, redis_keys: RedisKeys) -> None:
    model = Tens()
    async with gateway(redis, redis_keys) as broker, worker(redis, redis_keys, model):
        outputs = await broker.submit("tens", payloads(1, 2, 3, 4, 5, 6), timeout_s=10)
    assert [orjson.loads(o) for o in outputs] == [10, 20, 30, 40, 50, 60]
    assert await redis.get(redis_keys.depth("tens")) == b"0"


async def test_batches_form_across_two_gateways(redis: Redis, redis_keys: RedisKeys) -> None:
    model = Tens()
    async with gateway(redis, redis_keys) as first, gateway(redis, redis_keys) as second:
        calls = [first.submit("tens", payloads(n), 10) for n in range(4)]
        calls += [second.submit("tens", payloads(n), 10) for n in range(4, 8)]
        pending = [asyncio.create_task(c) for c in calls]
        await depth_reaches(redis, redis_keys, 8)
        async with worker(redis, redis_keys, model):  # starts after all 8 are queued
            results = await asyncio.gather(*pending)
    assert [orjson.loads(r[0]) for r in results] == [n * 10 for n in range(8)]


async def test_model_error_reaches_the_caller(redis: Redis, redis_keys: RedisKeys) -> None:
    async with gateway(redis, redis_keys) as broker, worker(redis, redis_keys, Tens()):
        with pytest.raises(ModelFailed, match="minus one"):
            await broker.submit("tens", payloads(-1), timeout_s=10)


async def test_bound_refuses_before_queueing(redis: Redis, redis_keys: RedisKeys) -> None:
    async with gateway(redis, redis_keys) as broker:
        waiting = asyncio.create_task(broker.submit("tens", payloads(*range(45)), timeout_s=10))
        await depth_reaches(redis, redis_keys, 45)
        with pytest.raises(Overloaded):
            await broker.submit("tens", payloads(*range(10)), timeout_s=10)
        assert await redis.xlen(redis_keys.stream("tens")) == 45
        waiting.cancel()


async def test_unreachable_redis_fails_fast_with_queue_unavailable() -> None:
    dead = connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
    broker = RedisBroker(dead, [SPEC], RedisKeys("sstest-dead"))
    started = time.monotonic()
    with pytest.raises(QueueUnavailable):
        await broker.submit("tens", payloads(1), timeout_s=30)
    assert time.monotonic() - started < 5
    await dead.aclose()


async def test_job_runs_and_ends_once_with_events(redis: Redis, redis_keys: RedisKeys) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    submitted = job()
    await store.submit(submitted)
    async with worker(redis, redis_keys, Tens()):
        ended = await until_ended(store, submitted.id)
    assert ended.status is JobStatus.SUCCEEDED
    assert orjson.loads(ended.outputs or b"") == [10, 20, 30]
    events = await store.events_after(submitted.id, 0)
    assert [(e.seq, e.status) for e in events] == [
        (1, JobStatus.QUEUED),
        (2, JobStatus.RUNNING),
        (3, JobStatus.SUCCEEDED),
    ]
    assert await store.get(submitted.id, "someone-else") is None
    assert 0 < await redis.ttl(redis_keys.job(submitted.id)) <= 24 * 3600


async def test_cancelled_job_is_never_run(redis: Redis, redis_keys: RedisKeys) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    model = Tens()
    cancelled = job(inputs=b"[7]")
    await store.submit(cancelled)
    now = time.time()
    assert (await store.cancel(cancelled.id, "t", now, now + 60)) is not None
    assert await store.cancel(cancelled.id, "t", now, now + 60) is None
    follower = job(inputs=b"[8]")
    await store.submit(follower)
    async with worker(redis, redis_keys, model):
        await until_ended(store, follower.id)
    assert model.ran == [8]
    assert await redis.get(redis_keys.depth("tens")) == b"0"


async def test_job_past_its_deadline_is_never_run(redis: Redis, redis_keys: RedisKeys) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    model = Tens()
    late = job(inputs=b"[5]", deadline_s=0.05)
    await store.submit(late)
    await asyncio.sleep(0.1)  # the deadline passes while no worker runs
    async with worker(redis, redis_keys, model):
        ended = await until_ended(store, late.id)
    assert ended.status is JobStatus.EXPIRED
    assert ended.error_code == "deadline_exceeded"
    assert model.ran == []


async def test_abandoned_entries_are_reclaimed_and_a_zombie_cannot_overwrite(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    submitted = job(inputs=b"[4]")
    await store.submit(submitted)
    zombie = RedisWorkSource(redis, SPEC, redis_keys, FAST_CLAIMS)
    await zombie.start()
    [held] = await zombie.read(4, timeout_s=5)  # takes the entry, then stalls
    async with worker(redis, redis_keys, Tens()):
        ended = await until_ended(store, submitted.id)
    assert ended.status is JobStatus.SUCCEEDED and ended.outputs == b"[40]"
    from scaleserve.types import ItemResult

    await zombie.reply([ItemResult(held.id, output=b"999")])  # the stalled worker wakes up
    after = await store.get(submitted.id, "t")
    assert after is not None and after.outputs == b"[40]"
    assert await redis.get(redis_keys.depth("tens")) == b"0"  # no double acknowledgement


async def test_entry_delivered_too_often_is_dead_lettered(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    store = RedisJobStore(redis, [SPEC], redis_keys)
    poison = job(inputs=b"[6]")
    await store.submit(poison)
    for _ in range(3):  # three workers take it and die without a word
        dying = RedisWorkSource(redis, SPEC, redis_keys, FAST_CLAIMS)
        await dying.start()
        async with asyncio.timeout(10):
            while not await dying.read(4, timeout_s=0.3):
                pass
    model = Tens()
    async with worker(redis, redis_keys, model):
        ended = await until_ended(store, poison.id)
    assert ended.status is JobStatus.FAILED
    assert "delivered 4 times" in (ended.error or "")
    assert model.ran == []
    assert await redis.xlen(redis_keys.dead_letters("tens")) == 1


async def test_garbage_on_the_stream_is_dead_lettered_not_run(
    redis: Redis, redis_keys: RedisKeys
) -> None:
    model = Tens()
    await redis.xadd(redis_keys.stream("tens"), {"p": b"\x80\x04\x95 pickle?", "x": "y"})
    await redis.incr(redis_keys.depth("tens"))
    async with gateway(redis, redis_keys) as broker, worker(redis, redis_keys, model):
        assert await broker.submit("tens", payloads(2), timeout_s=10) == [b"20"]
    assert model.ran == [2]
    assert await redis.xlen(redis_keys.dead_letters("tens")) == 1


async def test_durable_mode_refuses_a_redis_that_can_lose_jobs(redis: Redis) -> None:
    config = await redis.config_get("appendonly")
    if config.get("appendonly") == "yes":
        pytest.skip("this Redis persists; the refusal cannot be shown on it")
    with pytest.raises(ConfigError, match="appendonly"):
        await check_durability(redis, durable=True)
    await check_durability(redis, durable=False)  # warns, does not refuse
