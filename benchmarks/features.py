"""Online features benchmark: what the join adds to a batch, and what coalescing saves.

    python benchmarks/features.py            # 5,000 joins per backend, ~30 s
    python benchmarks/features.py --quick    # 1,000 joins per backend, ~5 s

1. **The join**: ``join_batch`` for a batch of 32 items, each naming one entity, with every
   feature of one view (5 features: int, float, str, bool, a list of 16 floats), on SQLite
   (a file, embedded) and on a real Redis on 127.0.0.1:6379. Beside it, the store's
   ``read_many`` alone (the one round trip the join makes) and the transport floor: the
   same client's trivial round trip (``SELECT 1`` on an aiosqlite connection to the same
   file, a Redis ``PING`` through scaleserve's Redis client). The batches rotate through
   1,024 written entities. p50 and p99 over every join.
2. **Coalescing**: 32 concurrent single-entity reads (32 requests of one item each), through
   ``CoalescingReads`` and, for comparison, straight to the store: how many store reads a
   burst costs, and the p50/p99 latency of one request.

Target (issue 13): the join adds one round trip per batch, <= 1 ms p50 on Redis for 32
entities. Redis keys use a unique prefix and are deleted afterwards. The event loop is
uvloop, as in scaleserve's processes. Without Redis, its rows are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import uvloop
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.report import table  # noqa: E402

from scaleserve.features.backends.redis import RedisFeatureStore  # noqa: E402
from scaleserve.features.backends.sqlite import SqliteFeatureStore  # noqa: E402
from scaleserve.features.coalescing import CoalescingReads  # noqa: E402
from scaleserve.features.join import FeatureNeed, join_batch  # noqa: E402
from scaleserve.features.store import (  # noqa: E402
    DelegatingFeatureStore,
    EntityFeatures,
    EntityRow,
    FeatureStore,
)
from scaleserve.features.views import FeatureView  # noqa: E402
from scaleserve.queue.backends.redis_connection import connect  # noqa: E402
from scaleserve.redis_keys import RedisKeys  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
TENANT = "bench"
BATCH = 32
ENTITIES = 1024
TARGET_P50_MS = 1.0
USERS = FeatureView(
    name="users",
    entity_key="user_id",
    features={
        "age": int,
        "spend_30d": float,
        "country": str,
        "is_member": bool,
        "embedding": list[float],
    },
    ttl_s=86_400.0,
)


@dataclass
class Backend:
    name: str
    store: FeatureStore
    floor: Callable[[], Awaitable[object]]


class CountingStore(DelegatingFeatureStore):
    """A store that counts the ``read_many`` calls that reach it."""

    def __init__(self, store: FeatureStore) -> None:
        super().__init__(store)
        self.reads = 0

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        self.reads += 1
        return await self.store.read_many(tenant, view, entity_ids, now)


def rows(now: float) -> dict[str, EntityRow]:
    return {
        str(i): EntityRow(
            {
                "age": 20 + i % 50,
                "spend_30d": i * 0.5,
                "country": ("IS", "FR", "DE", "NO")[i % 4],
                "is_member": i % 2 == 0,
                "embedding": [float(i % 7) / (j + 1) for j in range(16)],
            },
            now,
        )
        for i in range(ENTITIES)
    }


def batches(count: int) -> list[list[str]]:
    return [[str((b * BATCH + i) % ENTITIES) for i in range(BATCH)] for b in range(count)]


async def timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[float]:
    """Each call's wall time in ms, one after another."""
    times = []
    for call in calls:
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def p(times: Sequence[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


async def measure_join(backend: Backend, joins: int, now: float) -> dict[str, list[float]]:
    store, need = backend.store, [FeatureNeed(USERS)]
    ids = batches(joins)
    items = [[{"user_id": entity} for entity in batch] for batch in ids]
    warm = [lambda: join_batch(store, need, items[0], TENANT, now)] * 100
    await timed(warm)
    floor = await timed([backend.floor] * joins)
    reads = await timed([_bind_read(store, batch, now) for batch in ids])
    join = await timed([_bind_join(store, need, batch, now) for batch in items])
    outcome = await join_batch(store, need, items[0], TENANT, now)
    if not all(isinstance(item, dict) and "embedding" in item for item in outcome):
        raise RuntimeError(f"{backend.name}: the join did not fill every item: {outcome[0]}")
    return {"floor": floor, "read": reads, "join": join}


def _bind_read(
    store: FeatureStore, batch: list[str], now: float
) -> Callable[[], Awaitable[object]]:
    return lambda: store.read_many(TENANT, USERS, batch, now)


def _bind_join(
    store: FeatureStore, need: list[FeatureNeed], items: list[dict[str, str]], now: float
) -> Callable[[], Awaitable[object]]:
    return lambda: join_batch(store, need, items, TENANT, now)


async def burst(store: FeatureStore, ids: list[str], now: float) -> list[float]:
    """32 single-entity reads at once; each one's latency in ms."""

    async def one(entity: str) -> float:
        start = time.perf_counter()
        found = await store.read_many(TENANT, USERS, [entity], now)
        if not found[entity].values:
            raise RuntimeError(f"entity {entity} has no values")
        return (time.perf_counter() - start) * 1e3

    return list(await asyncio.gather(*(one(entity) for entity in ids)))


async def measure_coalescing(
    backend: Backend, bursts: int, now: float
) -> dict[str, tuple[float, list[float]]]:
    counted = CountingStore(backend.store)
    results = {}
    for label, store in (("coalesced", CoalescingReads(counted)), ("direct", counted)):
        await burst(store, batches(1)[0], now)  # warm: connections, caches
        counted.reads = 0
        latencies: list[float] = []
        for batch in batches(bursts):
            latencies += await burst(store, batch, now)
        results[label] = (counted.reads / bursts, latencies)
    return results


async def sqlite_backend(folder: Path) -> tuple[Backend, Callable[[], Awaitable[None]]]:
    path = folder / "features.sqlite3"
    store = SqliteFeatureStore(path)
    await store.open()
    floor_db = await aiosqlite.connect(path)

    async def select_one() -> object:
        async with floor_db.execute("SELECT 1") as cursor:
            return await cursor.fetchone()

    async def close() -> None:
        await floor_db.close()
        await store.close()

    return Backend("sqlite (file)", store, select_one), close


async def redis_backend() -> tuple[Backend, Callable[[], Awaitable[None]]]:
    client = connect(REDIS_URL)
    keys = RedisKeys(f"bench-features-{uuid.uuid4().hex[:12]}")
    store = RedisFeatureStore(client, keys)

    async def close() -> None:
        await _delete_prefix(client, keys.prefix)
        await client.aclose()

    return Backend("redis (loopback)", store, client.ping), close


async def _delete_prefix(client: Redis, prefix: str) -> None:
    stale = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for at in range(0, len(stale), 1000):
        await client.delete(*stale[at : at + 1000])
    print(f"  deleted {len(stale)} Redis keys under {prefix}:")


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


async def run_backend(backend: Backend, joins: int, bursts: int) -> list[list[str]]:
    now = time.time()
    await backend.store.write_many(TENANT, USERS, rows(now))
    print(f"  {backend.name}: {joins} joins of {BATCH} entities, {bursts} bursts of {BATCH}")
    joined = await measure_join(backend, joins, now)
    coalescing = await measure_coalescing(backend, bursts, now)
    return [join_row(backend.name, joined), *coalescing_rows(backend.name, coalescing)]


def join_row(name: str, measured: dict[str, list[float]]) -> list[str]:
    floor, read, join = measured["floor"], measured["read"], measured["join"]
    return [
        name,
        *(f"{p(times, 50):.3f} / {p(times, 99):.3f}" for times in (floor, read, join)),
        f"{p(join, 50) - p(floor, 50):.3f}",
    ]


def coalescing_rows(name: str, measured: dict[str, tuple[float, list[float]]]) -> list[list[str]]:
    return [
        [f"{name}, {label}", f"{reads:.2f}", f"{p(times, 50):.3f}", f"{p(times, 99):.3f}"]
        for label, (reads, times) in measured.items()
    ]


async def main_async(joins: int, bursts: int) -> int:
    join_rows: list[list[str]] = []
    coalescing: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
        makers: list[Callable[[], Awaitable[tuple[Backend, Callable[[], Awaitable[None]]]]]]
        makers = [lambda: sqlite_backend(Path(folder))]
        if redis_reachable():
            makers.append(redis_backend)
        else:
            print("  Redis is not running on 127.0.0.1:6379: its rows are left out")
        for make in makers:
            backend, close = await make()
            try:
                found = await run_backend(backend, joins, bursts)
            finally:
                await close()
            join_rows.append(found[0])
            coalescing += found[1:]
    report(join_rows, coalescing)
    return 0


def report(join_rows: list[list[str]], coalescing: list[list[str]]) -> None:
    headers = ["backend", "floor p50/p99 ms", "read_many", "join_batch", "join - floor p50"]
    print(f"\nThe join: {BATCH} entities x {len(USERS.kinds)} features, one view\n")
    print(table(headers, join_rows))
    print(f"\nCoalescing: {BATCH} concurrent single-entity reads\n")
    print(table(["reads", "store reads/burst", "p50 ms", "p99 ms"], coalescing))
    redis = [row for row in join_rows if row[0].startswith("redis")]
    if redis:
        p50 = float(redis[0][3].split(" / ")[0])
        verdict = "met" if p50 <= TARGET_P50_MS else "missed"
        print(f"\ntarget: join_batch <= {TARGET_P50_MS} ms p50 on Redis: {p50:.3f} ms, {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 joins, 200 bursts")
    parser.add_argument("--joins", type=int, default=5000)
    parser.add_argument("--bursts", type=int, default=1000)
    args = parser.parse_args()
    joins, bursts = (1000, 200) if args.quick else (args.joins, args.bursts)
    if joins < 1000:
        parser.error("--joins must be at least 1,000")
    return uvloop.run(main_async(joins, bursts))


if __name__ == "__main__":
    raise SystemExit(main())
