"""The Redis queue and job store, in one event loop against the real Redis on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
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
from scaleserve.queue.backends import redis_wire
from scaleserve.queue.backends.redis_broker import RedisBroker
from scaleserve.queue.backends.redis_connection import check_durability, connect
from scaleserve.queue.backends.redis_source import RedisSourceSettings, RedisWorkSource
from scaleserve.redis_keys import RedisKeys
from scaleserve.types import ItemResult
from scaleserve.worker.loop import batch_policy, work_loop
from scaleserve.worker.runner import ModelRunner
from tests.queue.helpers import payloads, started


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


def gateway(redis: Redis, keys: RedisKeys) -> contextlib.AbstractAsyncContextManager[RedisBroker]:
    return started(RedisBroker(redis, [SPEC], keys))


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
        await source.close()


@pytest.fixture
async def store(redis: Redis, redis_keys: RedisKeys) -> AsyncIterator[RedisJobStore]:
    jobs = RedisJobStore(redis, [SPEC], redis_keys)
    await jobs.open()
    yield jobs
    await jobs.close()


async def depth_reaches(redis: Redis, keys: RedisKeys, count: int) -> None:
    for _ in range(1000):
        if int(await redis.get(keys.depth("tens")) or 0) >= count:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the queue never held {count} items")


def job(
    model: str = "tens", inputs: bytes = b"[1,2,3]", deadline_s: float = 60, tenant: str = "t"
) -> Job:
    now = time.time()
    return Job(
        id=new_job_id(),
        tenant=tenant,
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


async def test_job_runs_and_ends_once_with_events(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    submitted = job()
    await store.submit([submitted])
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


async def test_cancelled_job_is_never_run(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    model = Tens()
    cancelled = job(inputs=b"[7]")
    await store.submit([cancelled])
    now = time.time()
    assert (await store.cancel(cancelled.id, "t", now, now + 60)) is not None
    assert await store.cancel(cancelled.id, "t", now, now + 60) is None
    follower = job(inputs=b"[8]")
    await store.submit([follower])
    async with worker(redis, redis_keys, model):
        await until_ended(store, follower.id)
    assert model.ran == [8]
    assert await redis.get(redis_keys.depth("tens")) == b"0"


async def test_job_past_its_deadline_is_never_run(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    model = Tens()
    late = job(inputs=b"[5]", deadline_s=0.05)
    await store.submit([late])
    await asyncio.sleep(0.1)  # the deadline passes while no worker runs
    async with worker(redis, redis_keys, model):
        ended = await until_ended(store, late.id)
    assert ended.status is JobStatus.EXPIRED
    assert ended.error_code == "deadline_exceeded"
    assert model.ran == []


async def test_abandoned_entries_are_reclaimed_and_a_zombie_cannot_overwrite(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    submitted = job(inputs=b"[4]")
    await store.submit([submitted])
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
    await zombie.close()


async def test_entry_delivered_too_often_is_dead_lettered(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    poison = job(inputs=b"[6]")
    await store.submit([poison])
    for _ in range(3):  # three workers take it and die without a word
        dying = RedisWorkSource(redis, SPEC, redis_keys, FAST_CLAIMS)
        await dying.start()
        async with asyncio.timeout(10):
            while not await dying.read(4, timeout_s=0.3):
                pass
        await dying.close()  # its connection only: the entry stays pending, unacknowledged
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


async def test_jobs_submitted_together_are_queued_together_or_refused_together(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    batch = [job(inputs=orjson.dumps([n, n + 1])) for n in range(0, 20, 2)]
    await store.submit(batch)
    assert await redis.get(redis_keys.depth("tens")) == b"20"
    assert await redis.xlen(redis_keys.stream("tens")) == 20
    too_many = [job(inputs=b"[1,2,3,4,5,6,7,8,9,10]") for _ in range(4)]  # 40 more: over 50
    with pytest.raises(Overloaded):
        await store.submit(too_many)
    assert await store.get_many([j.id for j in too_many], "t") == [None] * 4
    assert await redis.get(redis_keys.depth("tens")) == b"20"
    async with worker(redis, redis_keys, Tens()):
        ended = [await until_ended(store, j.id) for j in batch]
    assert [orjson.loads(j.outputs or b"") for j in ended] == [
        [10 * n, 10 * n + 10] for n in range(0, 20, 2)
    ]
    assert await redis.get(redis_keys.depth("tens")) == b"0"


async def test_get_many_answers_only_the_tenants_jobs(store: RedisJobStore) -> None:
    mine, theirs = job(), job(tenant="other")
    await store.submit([mine, theirs])
    found = await store.get_many([theirs.id, "0" * 32, mine.id], "t")
    assert [j.id if j else None for j in found] == [None, None, mine.id]
    assert await store.get_many([], "t") == []


async def test_compute_seconds_of_job_items_count_once_as_the_tenants_usage(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    jobs = [job(inputs=b"[1,2]", tenant="acme"), job(inputs=b"[3]", tenant="beta")]
    await store.submit(jobs)
    async with worker(redis, redis_keys, Tens()):
        for submitted in jobs:
            await until_ended_for(store, submitted.id, submitted.tenant)
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    field = f"tens|{day}|compute_s".encode()
    acme = await redis.hgetall(redis_keys.usage("acme"))
    beta = await redis.hgetall(redis_keys.usage("beta"))
    assert list(acme) == [field] and list(beta) == [field]
    assert 0 < float(acme[field]) < 5 and 0 < float(beta[field]) < 5
    # a late result of an item already recorded (a zombie's) counts nothing
    late = job(inputs=b"[4]", tenant="acme")
    await store.submit([late])
    zombie = RedisWorkSource(redis, SPEC, redis_keys, FAST_CLAIMS)
    await zombie.start()
    [held] = await zombie.read(4, timeout_s=5)
    async with worker(redis, redis_keys, Tens()):
        await until_ended_for(store, late.id, "acme")
    counted = float((await redis.hgetall(redis_keys.usage("acme")))[field])
    from scaleserve.types import ItemResult

    await zombie.reply([ItemResult(held.id, output=b"999", compute_s=100.0)])
    await zombie.close()
    assert float((await redis.hgetall(redis_keys.usage("acme")))[field]) == counted


async def until_ended_for(store: RedisJobStore, job_id: str, tenant: str) -> Job:
    async with asyncio.timeout(30):
        while (found := await store.get(job_id, tenant)) is None or not found.status.terminal:
            await store.wait_for_event(job_id, 0, timeout_s=0.2)
    return found


@pytest.mark.parametrize(
    "day",
    [
        "1970-01-01", "1999-12-31", "2000-02-28", "2000-02-29", "2000-03-01", "2023-02-28",
        "2024-02-29", "2024-03-01", "2024-12-31", "2025-01-01", "2100-02-28", "2100-03-01",
    ],
)  # fmt: skip
async def test_usage_days_in_lua_are_the_utc_dates_python_gives(redis: Redis, day: str) -> None:
    from scaleserve.queue.backends.redis_scripts import _source

    start = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC).timestamp()
    script = _source("job_event.lua") + "\nreturn utc_day(tonumber(ARGV[1]))"
    for moment in (start, start + 43_200.5, start + 86_399.999):
        assert await redis.eval(script, 0, repr(moment)) == day.encode()


async def test_scripts_flushed_from_redis_are_loaded_again(
    redis: Redis, redis_keys: RedisKeys, store: RedisJobStore
) -> None:
    async with gateway(redis, redis_keys) as broker, worker(redis, redis_keys, Tens()) as source:
        assert await broker.submit("tens", payloads(1), timeout_s=10) == [b"10"]
        await redis.script_flush()  # as after a restart of Redis: every script is gone
        assert await broker.submit("tens", payloads(2), timeout_s=10) == [b"20"]
        await redis.script_flush()
        submitted = job(inputs=b"[3]")
        await store.submit([submitted])
        await redis.script_flush()
        assert (await until_ended(store, submitted.id)).outputs == b"[30]"
        assert source.closing is False
    assert await redis.get(redis_keys.depth("tens")) == b"0"


async def test_a_reply_written_before_the_gateway_first_reads_its_stream_is_not_missed(
    redis: Redis, redis_keys: RedisKeys, redis_url: str
) -> None:
    """The reply reader starts at the beginning of the gateway's own stream: a reply that
    lands before its first read (or between a read that timed out and the next) is still
    delivered, instead of its request waiting for its deadline."""
    import redis as sync_redis

    broker = RedisBroker(redis, [SPEC], redis_keys)
    await broker.start()  # the reader is scheduled, and has not read yet
    try:
        request = broker._pending.open("tens", 1)
        item_id = request.item_ids[0]
        reply = redis_wire.reply_fields(ItemResult(item_id, output=b"70"), item_id)
        with sync_redis.Redis.from_url(redis_url) as writer:  # no await: the reader waits
            writer.xadd(redis_keys.replies(broker.gateway_id), reply)
        assert await request.wait(timeout_s=5) == [b"70"]
    finally:
        await broker.close()
