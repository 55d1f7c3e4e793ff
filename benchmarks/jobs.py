"""Async jobs end to end through Redis: scaleserve against Celery, and sync predict on Redis
against the embedded queue.

    python benchmarks/jobs.py            # about 2 minutes
    python benchmarks/jobs.py --quick    # a smoke run

1. Jobs/s from the first submission to the last result: ``scaleserve api`` + ``scaleserve
   worker`` (echo model, 1 and 2 worker processes) against a Celery worker (``-c 1`` and
   ``-c 2``, prefork, ``acks_late``) running a no-op task. Both use the same local Redis,
   both clients run in this process (asyncio for scaleserve, Celery's own client), and each
   job carries one input.
2. Sync ``/v1/models/echo/predict`` latency at concurrency 1 (wrk): ``scaleserve serve``
   embedded against ``scaleserve serve --redis``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
import wrk_load
from report import table

from scaleserve.testing import Service, running_service, running_workers

ROOT = Path(__file__).parents[1]
ECHO = str(ROOT / "examples" / "echo")
REDIS_URL = "redis://127.0.0.1:6379/0"
CELERY_BROKER = "redis://127.0.0.1:6379/14"


@dataclass(frozen=True)
class JobsRun:
    system: str
    workers: int
    jobs: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.jobs / self.seconds


def main() -> int:
    args = parse_args()
    runs: list[JobsRun] = []
    for workers in (1, 2):
        runs.append(scaleserve_jobs(workers, args.jobs))
        runs.append(celery_jobs(workers, args.celery_jobs))
    latency = sync_latency(args.duration_s)
    print_report(runs, latency)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=4000, help="scaleserve jobs per run")
    parser.add_argument("--celery-jobs", type=int, default=2000, help="Celery tasks per run")
    parser.add_argument("--duration-s", type=int, default=8, help="wrk seconds per latency run")
    parser.add_argument("--quick", action="store_true", help="small counts, short runs")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.celery_jobs, args.duration_s = 500, 300, 3
    return args


def scaleserve_jobs(workers: int, total: int) -> JobsRun:
    env = {
        "SCALESERVE_REDIS_URL": REDIS_URL,
        "SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "SCALESERVE_LOG_LEVEL": "warning",
    }
    with (
        running_workers(ECHO, args=["--workers", str(workers)], env=env),
        running_service(ECHO, command="api", env=env) as gateway,
    ):
        seconds = asyncio.run(submit_and_collect(gateway, total))
    return JobsRun("scaleserve", workers, total, seconds)


async def submit_and_collect(gateway: Service, total: int) -> float:
    """Submit ``total`` one-input jobs (64 at a time), then read each result once it is there.

    aiohttp, not httpx: at 64 concurrent connections httpx's own CPU was the bottleneck
    (measured: ~80 submissions/s against 2,500/s for the same gateway under wrk).
    """
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(gateway.base_url, connector=connector) as session:
        gate = asyncio.Semaphore(64)

        async def submit(n: int) -> str:
            async with (
                gate,
                session.post("/v1/jobs", json={"model": "echo", "inputs": [n]}) as answer,
            ):
                return str((await answer.json())["id"])

        async def result(job_id: str, expected: int) -> None:
            async with gate:
                while True:
                    async with session.get(f"/v1/jobs/{job_id}") as answer:
                        job = await answer.json()
                    if job["status"] == "succeeded" and job["outputs"] == [expected]:
                        return
                    if job["status"] not in {"queued", "running"}:
                        raise RuntimeError(f"job {job_id} ended {job['status']}")
                    await asyncio.sleep(0.01)

        started = time.perf_counter()
        ids = await asyncio.gather(*(submit(n) for n in range(total)))
        await asyncio.gather(*(result(job_id, n) for n, job_id in enumerate(ids)))
        return time.perf_counter() - started


def celery_jobs(workers: int, total: int) -> JobsRun:
    env = {**os.environ, "BENCH_CELERY_BROKER": CELERY_BROKER}
    subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_noop",
            "worker",
            "-c",
            str(workers),
            "--pool",
            "prefork",
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=Path(__file__).parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from celery_noop import noop

        noop.delay(0).get(timeout=120)  # the worker is up
        started = time.perf_counter()
        results = [noop.delay(n) for n in range(total)]
        for n, result in enumerate(results):
            if result.get(timeout=300) != n:
                raise RuntimeError("celery returned a wrong result")
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return JobsRun("celery", workers, total, seconds)


def sync_latency(duration_s: int) -> dict[str, wrk_load.LoadResult]:
    script = wrk_load.write_script(
        Path(__file__).parent / "results" / "echo_jobs.lua", ["hello world"]
    )
    out: dict[str, wrk_load.LoadResult] = {}
    modes = {
        "embedded": {},
        "redis": {
            "SCALESERVE_REDIS_URL": REDIS_URL,
            "SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        },
    }
    for mode, env in modes.items():
        with running_service(ECHO, env={**env, "SCALESERVE_LOG_LEVEL": "warning"}) as service:
            url = f"{service.base_url}/v1/models/echo/predict"
            wrk_load.run(url, script, 1, 1)  # warm up
            out[mode] = wrk_load.run(url, script, 1, duration_s)
    return out


def print_report(runs: list[JobsRun], latency: dict[str, wrk_load.LoadResult]) -> None:
    celery = {r.workers: r.per_s for r in runs if r.system == "celery"}
    rows = [
        [
            r.system,
            str(r.workers),
            str(r.jobs),
            f"{r.seconds:.2f}",
            f"{r.per_s:,.0f}",
            f"{r.per_s / celery[r.workers]:.1f}x" if r.system == "scaleserve" else "",
        ]
        for r in runs
    ]
    print("\nAsync jobs end to end through Redis (submit -> result), echo vs Celery no-op")
    print(table(["system", "workers", "jobs", "seconds", "jobs/s", "vs celery"], rows))
    embedded, redis = latency["embedded"], latency["redis"]
    print("\nSync predict at concurrency 1 (wrk)")
    print(
        table(
            ["queue", "req/s", "p50 ms", "p99 ms"],
            [
                [name, f"{r.requests_per_s:,.0f}", f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}"]
                for name, r in latency.items()
            ],
        )
    )
    ratio = redis.p50_ms / embedded.p50_ms
    best = max(r.per_s / celery[r.workers] for r in runs if r.system == "scaleserve")
    print(f"\ntarget jobs/s >= 5x celery: best {best:.1f}x -> {'PASS' if best >= 5 else 'MISS'}")
    verdict = "PASS" if ratio <= 1.3 else "MISS"
    print(f"target redis p50 <= 1.3x embedded at c=1: {ratio:.2f}x -> {verdict}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
