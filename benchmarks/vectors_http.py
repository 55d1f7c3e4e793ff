"""What a vector query costs over HTTP beyond the store called in-process.

    python benchmarks/vectors_http.py            # ~1 minute
    python benchmarks/vectors_http.py --points 50000

The same points (random unit vectors, 384 dimensions, a ``bucket`` 0..99 in the payload)
go into a collection of a running ``scaleserve serve`` (embedded store, authentication
on) and into an ``EmbeddedVectorStore`` in this process; the same queries are then made
one at a time (as one client would) through each, unfiltered and with a 10 % filter, and
the table shows p50/p99 and the p50 difference. The client is aiohttp (the body encoded
with orjson per request); the ``floor`` row is the same client's ``GET /healthz``, what
any HTTP request costs on this machine. Target (issue 13): an HTTP query adds <= 1 ms p50
over the library in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import table  # noqa: E402

from scaleserve.testing import running_service  # noqa: E402
from scaleserve.vectors.backends.embedded import EmbeddedVectorStore  # noqa: E402
from scaleserve.vectors.records import CollectionSpec, Point  # noqa: E402
from scaleserve.vectors.store import Query  # noqa: E402

DIM = 384
FILTERS: dict[str, Any] = {"none": None, "10 %": {"bucket": {"lt": 10}}}


def _points(count: int) -> list[Point]:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(count, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return [Point(f"p{i}", rows[i].tolist(), {"bucket": i % 100}) for i in range(count)]


async def _timed(call: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    for _ in range(20):  # warm-up
        await call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def _in_process(points: list[Point], queries: list[list[float]]) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddedVectorStore(folder)
        await store.open()
        await store.create("bench", CollectionSpec("bench", DIM))
        for start in range(0, len(points), 1000):
            await store.upsert("bench", "bench", points[start : start + 1000])
        results = {}
        for label, raw in FILTERS.items():
            turn = iter(range(10**9))

            async def query(raw: Any = raw, turn: Any = turn) -> None:
                vector = queries[next(turn) % len(queries)]
                await store.query("bench", "bench", Query(vector, 10, raw))

            results[label] = await _timed(query, len(queries))
        await store.close()
        return results


async def _over_http(
    base_url: str, headers: dict[str, str], points: list[Point], queries: list[list[float]]
) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
        made = await http.post("/v1/collections", json={"name": "bench", "dimension": DIM})
        made.raise_for_status()
        for start in range(0, len(points), 1000):
            chunk = [{"id": p.id, "vector": p.vector, "payload": p.payload}
                     for p in points[start : start + 1000]]  # fmt: skip
            upserted = await http.put("/v1/collections/bench/points", json={"points": chunk})
            upserted.raise_for_status()
    sent = {**headers, "content-type": "application/json"}
    async with aiohttp.ClientSession(base_url) as client:

        async def floor() -> None:
            async with client.get("/healthz") as answer:
                await answer.read()

        results = {"floor (GET /healthz)": await _timed(floor, len(queries))}
        for label, raw in FILTERS.items():
            turn = iter(range(10**9))

            async def query(raw: Any = raw, turn: Any = turn) -> None:
                body = {"vector": queries[next(turn) % len(queries)], "k": 10, "filter": raw}
                url = "/v1/collections/bench/query"
                async with client.post(url, data=orjson.dumps(body), headers=sent) as answer:
                    answer.raise_for_status()
                    await answer.read()

            results[label] = await _timed(query, len(queries))
        return results


def _row(label: str, local: list[float], remote: list[float]) -> list[str]:
    def p(samples: list[float], q: int) -> float:
        return statistics.quantiles(samples, n=100)[q - 1]

    added = statistics.median(remote) - statistics.median(local)
    return [
        label, f"{statistics.median(local):.2f}", f"{p(local, 99):.2f}",
        f"{statistics.median(remote):.2f}", f"{p(remote, 99):.2f}", f"{added:+.2f}",
        "met" if added <= 1.0 else "MISSED",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    points = _points(args.points)
    rng = np.random.default_rng(1)
    queries = [row.tolist() for row in rng.normal(size=(args.queries, DIM)).astype(np.float32)]
    local = asyncio.run(_in_process(points, queries))
    with running_service(ROOT / "examples" / "echo", auth=True) as service:
        remote = asyncio.run(_over_http(service.base_url, service.headers, points, queries))
    print(
        f"\n{args.points:,} points, {DIM} dimensions, k=10, {args.queries} queries, one at a time"
    )
    headers = ["filter", "in-process p50 ms", "p99", "HTTP p50 ms", "p99", "added p50", "<= 1 ms"]
    rows = [_row(label, local[label], remote[label]) for label in FILTERS]
    floor = remote["floor (GET /healthz)"]
    rows.append(["floor (GET /healthz)", "", "", f"{statistics.median(floor):.2f}",
                 f"{statistics.quantiles(floor, n=100)[98]:.2f}", "", ""])  # fmt: skip
    print(table(headers, rows))


if __name__ == "__main__":
    main()
