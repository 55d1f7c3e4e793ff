"""Usage: the stores' running totals on every backend, the gateway's recorder (merging,
flushing, surviving a store that fails) and the cost arithmetic."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis

from scaleserve.errors import QueueUnavailable, RequestError
from scaleserve.queue.backends.redis_connection import connect
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy.backends.redis import RedisTenancyStore
from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore
from scaleserve.tenancy.records import Usage
from scaleserve.tenancy.usage import (
    UsageRecorder,
    UsageStore,
    cost,
    cost_per_1k_predictions,
    summarize,
    utc_day,
)
from scaleserve.testing import free_port
from tests.tenancy.conftest import Backing, Store

JAN_1 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


class Counting:
    """A real store that counts the writes it is asked for."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        self.writes = 0

    async def add(self, deltas: Sequence[Usage]) -> None:
        self.writes += 1
        await self.store.add(deltas)

    async def query(
        self, tenant: str | None, since_day: str | None = None, until_day: str | None = None
    ) -> list[Usage]:
        return await self.store.query(tenant, since_day, until_day)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def seed(store: UsageStore) -> None:
    await store.add(
        [
            Usage("acme", "m1", "2024-01-01", requests=1, items=2, compute_s=0.5),
            Usage("acme", "m1", "2024-01-02", requests=3, items=4, errors=1, tokens=7),
            Usage("acme", "m2", "2024-01-02", requests=1, items=1, compute_s=0.25),
            Usage("beta", "m1", "2024-01-03", requests=9, items=9),
        ]
    )


async def test_adds_accumulate(store: Store) -> None:
    await store.add([Usage("acme", "m1", "2024-01-01", 1, 2, 0, 0.1, 5)])
    await store.add([Usage("acme", "m1", "2024-01-01", 2, 3, 1, 0.2, 0)] * 2)
    [row] = await store.query("acme")
    assert (row.requests, row.items, row.errors, row.tokens) == (5, 8, 2, 5)
    assert row.compute_s == pytest.approx(0.5)
    await store.add([])
    assert await store.query("acme") == [row]


async def test_query_by_tenant_and_days(store: Store) -> None:
    await seed(store)
    assert [(u.tenant, u.model, u.day) for u in await store.query(None)] == [
        ("acme", "m1", "2024-01-01"),
        ("acme", "m1", "2024-01-02"),
        ("acme", "m2", "2024-01-02"),
        ("beta", "m1", "2024-01-03"),
    ]
    assert [u.day for u in await store.query("acme")] == ["2024-01-01", "2024-01-02", "2024-01-02"]
    assert [u.day for u in await store.query("acme", since_day="2024-01-02")] == ["2024-01-02"] * 2
    assert [u.day for u in await store.query(None, until_day="2024-01-01")] == ["2024-01-01"]
    both = await store.query(None, "2024-01-02", "2024-01-02")
    assert [(u.tenant, u.model) for u in both] == [("acme", "m1"), ("acme", "m2")]
    assert both[0] == Usage("acme", "m1", "2024-01-02", requests=3, items=4, errors=1, tokens=7)
    assert await store.query("nobody") == []


@pytest.mark.parametrize("day", ["2024-1-01", "2024-02-30", "yesterday", "2024-01-01\n"])
async def test_bad_days_are_refused(store: Store, day: str) -> None:
    with pytest.raises(RequestError, match="invalid day"):
        await store.query(None, since_day=day)


async def test_totals_outlive_the_store(durable: Backing) -> None:
    first = await durable.open()
    await seed(first)
    await first.close()
    second = await durable.open()
    await seed(second)
    [row] = await second.query("beta")
    assert (row.requests, row.items) == (18, 18)


async def test_the_recorder_merges_records_into_one_write(store: Store) -> None:
    counting = Counting(store)
    recorder = UsageRecorder(counting, clock=Clock(JAN_1))
    for n in range(1000):
        recorder.record(f"t{n % 2}", "m", requests=1, items=3, compute_s=0.001, tokens=1)
    assert len(recorder.pending) == 2
    await recorder.flush()
    await recorder.flush()  # nothing left: no write
    assert counting.writes == 1 and recorder.pending == []
    rows = await store.query(None)
    assert [(u.tenant, u.day, u.requests, u.items, u.tokens) for u in rows] == [
        ("t0", "2024-01-01", 500, 1500, 500),
        ("t1", "2024-01-01", 500, 1500, 500),
    ]
    assert rows[0].compute_s == pytest.approx(0.5)


async def test_the_recorder_counts_by_utc_day_of_its_clock(store: Store) -> None:
    clock = Clock(JAN_1 - 0.001)
    recorder = UsageRecorder(store, clock=clock)
    recorder.record("acme", "m", requests=1)
    clock.now += 0.001
    recorder.record("acme", "m", requests=2, errors=1)
    await recorder.flush()
    assert await store.query("acme") == [
        Usage("acme", "m", "2023-12-31", requests=1),
        Usage("acme", "m", "2024-01-01", requests=2, errors=1),
    ]


async def test_close_flushes_what_is_left(store: Store) -> None:
    async with UsageRecorder(store, flush_interval_s=60.0) as recorder:
        recorder.record("acme", "m", requests=1, items=2)
    assert [(u.requests, u.items) for u in await store.query("acme")] == [(1, 2)]


async def test_the_recorder_flushes_in_the_background(store: Store) -> None:
    async with UsageRecorder(store, flush_interval_s=0.01) as recorder:
        recorder.record("acme", "m", requests=1)
        await eventually(store, "acme")
        assert recorder.pending == []


async def eventually(store: UsageStore, tenant: str) -> None:
    """Wait (a few seconds at most) until ``tenant`` has usage in ``store``."""
    for _ in range(500):
        if await store.query(tenant):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no usage of {tenant} arrived")


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's open write transaction on the same file."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_failed_flush_keeps_its_totals_for_the_next(tmp_path: Path) -> None:
    path = tmp_path / "tenants.sqlite3"
    store = SqliteTenancyStore(path, busy_timeout_ms=20)
    await store.open()
    recorder = UsageRecorder(store, clock=Clock(JAN_1))
    holder = hold_write_lock(path)
    try:
        recorder.record("acme", "m", requests=1, compute_s=0.5)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await recorder.flush()
        recorder.record("acme", "m", requests=2, items=4)
        assert recorder.pending == [Usage("acme", "m", "2024-01-01", 3, 4, 0, 0.5)]
        holder.execute("ROLLBACK")
        await recorder.flush()
        [row] = await store.query("acme")
        assert (row.requests, row.items, row.compute_s) == (3, 4, 0.5)
    finally:
        holder.close()
        await store.close()


async def test_background_flushes_outlast_a_locked_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tenants.sqlite3"
    store = SqliteTenancyStore(path, busy_timeout_ms=10)
    await store.open()
    holder = hold_write_lock(path)
    try:
        async with UsageRecorder(store, flush_interval_s=0.01) as recorder:
            for _ in range(5):
                recorder.record("acme", "m", requests=1)
                await asyncio.sleep(0.02)  # flushes are failing meanwhile
            holder.execute("ROLLBACK")
            recorder.record("acme", "m", requests=1)
        assert "usage flush failed" in caplog.text
        [row] = await store.query("acme")
        assert row.requests == 6  # every record once: none lost, none counted twice
    finally:
        holder.close()
        await store.close()


async def test_an_unreachable_redis_keeps_the_totals() -> None:
    redis = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    recorder = UsageRecorder(RedisTenancyStore(redis, RedisKeys("sstest-unreachable")))
    try:
        recorder.record("acme", "m", requests=1, tokens=3)
        with pytest.raises(QueueUnavailable):
            await recorder.flush()
        await recorder.close()  # logs the loss, does not raise while stopping
        assert [(u.requests, u.tokens) for u in recorder.pending] == [(1, 3)]
    finally:
        await redis.aclose()


async def test_a_glob_in_the_redis_prefix_matches_itself_only(redis: Redis) -> None:
    base = f"sstest-{uuid.uuid4().hex[:12]}"
    mine = RedisTenancyStore(redis, RedisKeys(f"{base}-?"))
    other = RedisTenancyStore(redis, RedisKeys(f"{base}-x"))  # what '?' would match
    try:
        await mine.add([Usage("one", "m", "2024-01-01", requests=1)])
        await other.add([Usage("two", "m", "2024-01-01", requests=1)])
        assert [u.tenant for u in await mine.query(None)] == ["one"]
    finally:
        await redis.delete(*[key async for key in redis.scan_iter(f"{base}-*")])


def test_days_are_utc_dates() -> None:
    assert utc_day(JAN_1) == "2024-01-01"
    assert utc_day(JAN_1 - 0.5) == "2023-12-31"


def test_cost_by_compute_and_by_items() -> None:
    usage = Usage("acme", "m", "2024-01-01", requests=10, items=4000, compute_s=20.0)
    assert cost(usage, None, None) is None
    assert cost(usage, 0.01, None) == pytest.approx(0.2)
    assert cost(usage, None, 0.5) == pytest.approx(2.0)
    assert cost(usage, 0.01, 0.5) == pytest.approx(2.2)
    assert cost_per_1k_predictions(usage, 0.01, 0.5) == pytest.approx(0.55)
    assert cost_per_1k_predictions(usage, None, None) is None
    assert cost_per_1k_predictions(Usage("acme", "m", "2024-01-01"), 0.01, 0.5) is None


def test_summarize_sums_over_days() -> None:
    rows = [
        Usage("beta", "m", "2024-01-05", requests=1),
        Usage("acme", "m", "2024-01-03", requests=1, items=2, compute_s=0.25),
        Usage("acme", "m", "2024-01-01", requests=2, items=3, compute_s=0.5, tokens=4),
        Usage("acme", "n", "2024-01-02", errors=1),
    ]
    assert summarize(rows) == [
        Usage("acme", "m", "2024-01-01..2024-01-03", 3, 5, 0, 0.75, 4),
        Usage("acme", "n", "2024-01-02", errors=1),
        Usage("beta", "m", "2024-01-05", requests=1),
    ]
    assert summarize([]) == []
