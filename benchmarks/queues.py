"""Every queue backend in one run: sync predict p50 at concurrency 1 and async jobs/s,
each beside its raw client round trip (the transport floor), in one table.

    python benchmarks/queues.py            # 500 sync requests, 2,000 jobs per backend
    python benchmarks/queues.py --quick    # a smoke run

Each backend serves ``examples/echo`` (one worker process, auth off) with ``scaleserve
serve`` and the matching ``--queue``; the client is one process (httpx, keep-alive).
Sync: one-item ``/v1/models/echo/predict`` requests one after another. Jobs: ``POST
/v1/jobs`` with ``Prefer: wait=60``, 64 at a time, from the first submission to the last
ended job. The floors: ``transport_floor.py`` (Unix socket, Redis streams) and
``queue_floors.py`` (RabbitMQ quorum queue, NATS JetStream). Needs Redis, RabbitMQ and
NATS (JetStream) on loopback; the machine's other work moves every number.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import queue_floors
import transport_floor
from report import table

from scaleserve.testing import running_service

ECHO = Path(__file__).parents[1] / "examples" / "echo"
BACKENDS = {
    "embedded": [],
    "redis": ["--queue", "redis://127.0.0.1:6379/0"],
    "rabbitmq": ["--queue", "amqp://guest:guest@127.0.0.1:5672/"],
    "nats": ["--queue", "nats://127.0.0.1:4222"],
}


@dataclass(frozen=True)
class Run:
    backend: str
    sync_p50_ms: float
    jobs_per_s: float
    floor_p50_ms: float


def main() -> int:
    args = parse_args()
    sync_n, jobs_n, floor_n = (100, 300, 300) if args.quick else (500, 2000, 2000)
    floors = measure_floors(floor_n)
    runs = []
    for backend, queue_args in BACKENDS.items():
        env = {"SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}
        with running_service(ECHO, workers=1, args=queue_args, env=env) as service:
            p50, rate = asyncio.run(measure(service.base_url, sync_n, jobs_n))
        runs.append(Run(backend, p50, rate, floors[backend]))
        print(f"{backend}: done", file=sys.stderr)
    print(render(runs, sync_n, jobs_n))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    return parser.parse_args()


def measure_floors(round_trips: int) -> dict[str, float]:
    floor = transport_floor.measure(round_trips)
    return {
        "embedded": floor.socket_p50_ms,
        "redis": floor.redis_p50_ms,
        "rabbitmq": queue_floors.rabbit_p50_ms(round_trips),
        "nats": queue_floors.nats_p50_ms(round_trips),
    }


async def measure(base_url: str, sync_n: int, jobs_n: int) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await _sync_times(client, 20)  # warm
        p50_ms = statistics.median(await _sync_times(client, sync_n)) * 1e3
        rate = jobs_n / await _timed(lambda: _jobs(client, jobs_n, concurrency=64))
    return p50_ms, rate


async def _sync_times(client: httpx.AsyncClient, count: int) -> list[float]:
    times = []
    for n in range(count):
        start = time.perf_counter()
        answer = await client.post("/v1/models/echo/predict", json={"inputs": [n]})
        times.append(time.perf_counter() - start)
        if answer.status_code != 200 or answer.json()["outputs"] != [n]:
            raise RuntimeError(f"bad answer: {answer.status_code} {answer.text}")
    return times


async def _jobs(client: httpx.AsyncClient, total: int, concurrency: int) -> None:
    numbers = iter(range(total))

    async def submitter() -> None:
        for n in numbers:
            body = {"model": "echo", "inputs": [n]}
            answer = await client.post("/v1/jobs", json=body, headers={"Prefer": "wait=60"})
            job = answer.json()
            if job.get("status") != "succeeded" or job.get("outputs") != [n]:
                raise RuntimeError(f"job {n} did not succeed: {answer.text}")

    await asyncio.gather(*(submitter() for _ in range(concurrency)))


async def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    await work()  # type: ignore[misc]
    return time.perf_counter() - start


def render(runs: list[Run], sync_n: int, jobs_n: int) -> str:
    headers = ["backend", "sync p50 c=1 (ms)", "floor p50 (ms)", "over floor (ms)", "jobs/s"]
    rows = [
        [
            run.backend,
            f"{run.sync_p50_ms:.2f}",
            f"{run.floor_p50_ms:.3f}",
            f"{run.sync_p50_ms - run.floor_p50_ms:.2f}",
            f"{run.jobs_per_s:.0f}",
        ]
        for run in runs
    ]
    note = f"\n{sync_n} sync requests, {jobs_n} jobs (64 at a time) per backend; 1 echo worker"
    return table(headers, rows) + note


if __name__ == "__main__":
    sys.exit(main())
