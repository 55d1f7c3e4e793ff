"""Async jobs end to end through Redis: scaleserve against Celery, and sync predict on Redis
against the embedded queue.

    python benchmarks/jobs.py            # 3 rounds, about 6 minutes
    python benchmarks/jobs.py --quick    # 1 round of small counts, a smoke run

1. Jobs/s from the first submission to the last result read back and checked, every job
   carrying one input, through the same local Redis:
   - scaleserve (``scaleserve api`` + ``scaleserve worker``, echo model, 1 and 2 worker
     processes), two ways a client can use it:
     ``wait``: ``POST /v1/jobs`` per job with ``Prefer: wait=60`` (64 at a time): the
     answer carries the ended job, one request per job;
     ``one``: ``POST /v1/jobs`` per job (64 at a time), then ``GET /v1/jobs/{id}`` until
     it has ended;
     ``batch``: ``POST /v1/jobs/batch`` with 500 jobs per request, reading them back
     with ``GET /v1/jobs?ids=`` (100 per request), at most 2,000 jobs in flight (echo's
     queue holds 4,096 items: past that scaleserve refuses work, by design).
   - Celery (worker ``-c 1`` / ``-c 2``, prefork, ``acks_late``, a no-op task, Redis as
     broker and result backend), its two ways: ``delay``: ``noop.delay(n)`` per task,
     then ``.get()`` each result; ``group``: ``group(noop.s(n) ...).apply_async()``, then
     ``.get()`` of the group. Both clients run in this process (asyncio + aiohttp for
     scaleserve, Celery's own client for Celery).
2. Sync ``/v1/models/echo/predict`` latency at concurrency 1 (wrk): ``scaleserve serve``
   embedded against ``scaleserve serve --redis``.

Every scaleserve service runs with API keys on, as users run it. Each client first runs 500
jobs (tasks) unmeasured, scaleserve's and Celery's alike. The clients encode and decode
JSON with orjson, as a client that cares about speed would. The machine's other work
moves every number: each round runs every configuration back to back, the report shows
the median of the rounds and the spread, and compares ratios taken within the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).parent))
import transport_floor
import wrk_load
from report import table

from scaleserve.testing import Service, running_service, running_workers

ROOT = Path(__file__).parents[1]
ECHO = str(ROOT / "examples" / "echo")
REDIS_URL = "redis://127.0.0.1:6379/0"
CELERY_DB = 14
CELERY_BROKER = f"redis://127.0.0.1:6379/{CELERY_DB}"
RESULTS = Path(__file__).parent / "results"
AUTH_ENV = "BENCH_AUTHORIZATION"  # wrk's script reads the Authorization header from here

CONCURRENCY = 64
BATCH_JOBS = 500
READ_IDS = 100
IN_FLIGHT_JOBS = 2000
POLL_S = 0.01
JSON = {"Content-Type": "application/json"}
WARMUP_JOBS = 500


@dataclass(frozen=True)
class Counts:
    one: int
    batch: int
    celery: int
    latency_s: int


@dataclass(frozen=True)
class JobsRun:
    system: str
    api: str
    workers: int
    jobs: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.jobs / self.seconds


def main() -> int:
    args = parse_args()
    counts = Counts(args.jobs, args.batch_jobs, args.celery_jobs, args.duration_s)
    RESULTS.mkdir(exist_ok=True)
    runs: list[JobsRun] = []
    latency: dict[str, list[wrk_load.LoadResult]] = {"embedded": [], "redis": []}
    floors: list[transport_floor.Floor] = []
    load_start = os.getloadavg()
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number} of {args.rounds}", file=sys.stderr)
        for workers in (1, 2):
            runs += scaleserve_jobs(workers, counts, args.apis)
            runs += celery_jobs(workers, counts)
        for mode, result in sync_latency(counts.latency_s).items():
            latency[mode].append(result)
        floors.append(transport_floor.measure())
    print_report(runs, latency, floors, (load_start, os.getloadavg()))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every configuration")
    parser.add_argument("--jobs", type=int, default=4000, help="scaleserve jobs, one per request")
    parser.add_argument("--batch-jobs", type=int, default=20000, help="scaleserve jobs in batches")
    parser.add_argument("--celery-jobs", type=int, default=2000, help="Celery tasks per run")
    parser.add_argument("--duration-s", type=int, default=8, help="wrk seconds per latency run")
    parser.add_argument(
        "--apis",
        nargs="+",
        choices=["wait", "wait-wrk", "one", "batch"],
        default=["wait", "wait-wrk", "one", "batch"],
        help="scaleserve's ways to run: one waiting request per job (sent by aiohttp, or by"
        " wrk), a request per job and"
        " polls, batches",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, small counts, short runs")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.jobs, args.batch_jobs, args.celery_jobs = 1, 500, 2000, 300
        args.duration_s = 3
    return args


# -- scaleserve ---------------------------------------------------------------------------


@contextlib.contextmanager
def redis_deployment(workers: int) -> Iterator[Service]:
    """``scaleserve worker`` + ``scaleserve api`` on a fresh key prefix, API keys on."""
    env = {
        "SCALESERVE_REDIS_URL": REDIS_URL,
        "SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "SCALESERVE_LOG_LEVEL": "warning",
    }
    with (
        running_workers(ECHO, args=["--workers", str(workers)], env=env),
        running_service(ECHO, command="api", env=env, auth=True) as gateway,
    ):
        yield gateway
    _delete_prefix(env["SCALESERVE_REDIS_PREFIX"])


def _delete_prefix(prefix: str) -> None:
    """Drop a run's keys, so that rounds do not fill Redis (job results live for a day)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)
    client.close()


def scaleserve_jobs(workers: int, counts: Counts, apis: list[str]) -> list[JobsRun]:
    clients = {
        "wait": (counts.one, one_request_waiting),
        "one": (counts.one, one_per_request),
        "batch": (counts.batch, in_batches),
    }
    runs = []
    with redis_deployment(workers) as gateway:
        for api in apis:
            if api == "wait-wrk":
                runs.append(waiting_with_wrk(gateway, workers, counts.latency_s))
                continue
            total, client = clients[api]
            runs.append(
                JobsRun(
                    "scaleserve", api, workers, total, asyncio.run(_timed(gateway, total, client))
                )
            )
    return runs


def waiting_with_wrk(gateway: Service, workers: int, duration_s: int) -> JobsRun:
    """``wait``'s requests sent by wrk (C, one thread) for ``duration_s``: the jobs/s the
    service sustains when its client costs next to nothing. Only answers that carry the
    succeeded job with the right output count; anything else fails the run."""
    script = _waiting_script(RESULTS / "jobs_wait.lua")
    os.environ[AUTH_ENV] = gateway.headers["Authorization"]
    url = f"{gateway.base_url}/v1/jobs"
    _run_wrk(url, script, 2)  # warm up
    output = _run_wrk(url, script, duration_s)
    counted = re.search(r"^ended (\d+) other (\d+)$", output, re.MULTILINE)
    if counted is None:
        raise RuntimeError(f"cannot read wrk's counts:\n{output}")
    ended, other = int(counted[1]), int(counted[2])
    if other:
        raise RuntimeError(f"wrk saw {other} answers that were not the ended job:\n{output}")
    return JobsRun("scaleserve", "wait-wrk", workers, ended, float(duration_s))


def _run_wrk(url: str, script: Path, duration_s: int) -> str:
    argv = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{duration_s}s", "--timeout", "30s",
            "-s", str(script), url]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def _waiting_script(path: Path) -> Path:
    """A wrk script: ``POST /v1/jobs`` with ``Prefer: wait=60`` and one echo input, counting
    the answers that are 201 with the succeeded job and its output, and all the others."""
    path.write_text(
        """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "wait=60"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
wrk.body = '{"model":"echo","inputs":["hello"]}'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ended = 0; other = 0 end
function response(status, headers, body)
  if status == 201 and body:find('"status":"succeeded"', 1, true)
      and body:find('"outputs":["hello"]', 1, true) then
    ended = ended + 1
  else
    other = other + 1
  end
end
function done(summary, latency, requests)
  local e, o = 0, 0
  for _, t in ipairs(threads) do e = e + t:get("ended"); o = o + t:get("other") end
  io.write(string.format("ended %d other %d\\n", e, o))
end
"""
    )
    return path


Client = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


async def _timed(gateway: Service, total: int, client: Client) -> float:
    """Seconds that ``client`` takes to run ``total`` jobs through ``gateway``.

    aiohttp, not httpx: at 64 concurrent connections httpx's own CPU was the bottleneck
    (measured: ~80 submissions/s against 2,500/s for the same gateway under wrk).
    """
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(
        gateway.base_url, connector=connector, headers=gateway.headers
    ) as session:
        await client(session, WARMUP_JOBS)  # first calls, connections: not measured
        started = time.perf_counter()
        await client(session, total)
        return time.perf_counter() - started


async def one_per_request(session: aiohttp.ClientSession, total: int) -> None:
    """Submit ``total`` one-input jobs (64 at a time), then read each result once it is there."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def submit(n: int) -> str:
        body = _json({"model": "echo", "inputs": [n]})
        async with gate, session.post("/v1/jobs", data=body, headers=JSON) as answer:
            if answer.status != 202:
                raise RuntimeError(f"submit answered {answer.status}: {await answer.text()}")
            return str((orjson.loads(await answer.read()))["id"])

    async def result(job_id: str, expected: int) -> None:
        async with gate:
            while True:
                async with session.get(f"/v1/jobs/{job_id}") as answer:
                    job = orjson.loads(await answer.read())
                if _ended(job, expected):
                    return
                await asyncio.sleep(POLL_S)

    ids = await asyncio.gather(*(submit(n) for n in range(total)))
    await asyncio.gather(*(result(job_id, n) for n, job_id in enumerate(ids)))


async def one_request_waiting(session: aiohttp.ClientSession, total: int) -> None:
    """Submit ``total`` one-input jobs (64 at a time), each answered once it has ended."""
    gate = asyncio.Semaphore(CONCURRENCY)
    prefer = {**JSON, "Prefer": "wait=60"}

    async def run(n: int) -> None:
        body = {"model": "echo", "inputs": [n]}
        async with gate, session.post("/v1/jobs", data=_json(body), headers=prefer) as answer:
            if answer.status != 201:
                raise RuntimeError(f"submit answered {answer.status}: {await answer.text()}")
            if not _ended(orjson.loads(await answer.read()), n):
                raise RuntimeError(f"job {n} came back before it ended")

    await asyncio.gather(*(run(n) for n in range(total)))


async def in_batches(session: aiohttp.ClientSession, total: int) -> None:
    """Submit ``total`` one-input jobs 500 per request, at most 2,000 of them in flight; read
    each batch back 100 ids per request until every job in it has ended."""
    slots = asyncio.Semaphore(IN_FLIGHT_JOBS // BATCH_JOBS)

    async def batch(first: int) -> None:
        numbers = range(first, min(first + BATCH_JOBS, total))
        body = {"jobs": [{"model": "echo", "inputs": [n]} for n in numbers]}
        async with slots:
            async with session.post("/v1/jobs/batch", data=_json(body), headers=JSON) as answer:
                if answer.status != 202:
                    raise RuntimeError(f"batch answered {answer.status}: {await answer.text()}")
                ids = (orjson.loads(await answer.read()))["ids"]
            expected = dict(zip(ids, numbers, strict=True))
            while expected:
                chunks = [
                    list(expected)[i : i + READ_IDS] for i in range(0, len(expected), READ_IDS)
                ]
                for jobs in await asyncio.gather(*(read(chunk) for chunk in chunks)):
                    for job in jobs:
                        if _ended(job, expected[job["id"]]):
                            del expected[job["id"]]
                if expected:
                    await asyncio.sleep(POLL_S)

    async def read(ids: list[str]) -> list[dict[str, object]]:
        async with session.get("/v1/jobs", params={"ids": ",".join(ids)}) as answer:
            found = orjson.loads(await answer.read())
        if found["not_found"]:
            raise RuntimeError(f"jobs not found: {found['not_found'][:3]}")
        return list(found["jobs"])

    await asyncio.gather(*(batch(first) for first in range(0, total, BATCH_JOBS)))


def _json(body: object) -> bytes:
    return orjson.dumps(body)


def _ended(job: dict[str, object], expected: int) -> bool:
    """Whether the job has ended, checking that it succeeded with the right output."""
    if job["status"] == "succeeded" and job["outputs"] == [expected]:
        return True
    if job["status"] not in {"queued", "running"}:
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job}")
    return False


# -- Celery -------------------------------------------------------------------------------


def celery_jobs(workers: int, counts: Counts) -> list[JobsRun]:
    env = {**os.environ, "BENCH_CELERY_BROKER": CELERY_BROKER}
    subprocess.run(["redis-cli", "-n", str(CELERY_DB), "flushdb"], check=True, capture_output=True)
    argv = [sys.executable, "-m", "celery", "-A", "celery_noop", "worker", "-c", str(workers),
            "--pool", "prefork", "--loglevel", "warning",
            "--without-gossip", "--without-mingle"]  # fmt: skip
    worker = subprocess.Popen(
        argv,
        cwd=Path(__file__).parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from celery import group
        from celery_noop import noop

        noop.delay(0).get(timeout=120)  # the worker is up
        warmup = [noop.delay(n) for n in range(WARMUP_JOBS)]  # as scaleserve gets: not measured
        [result.get(timeout=120) for result in warmup]
        total = counts.celery
        started = time.perf_counter()
        results = [noop.delay(n) for n in range(total)]
        if [result.get(timeout=300) for result in results] != list(range(total)):
            raise RuntimeError("celery returned a wrong result")
        delay_s = time.perf_counter() - started
        started = time.perf_counter()
        grouped = group(noop.s(n) for n in range(total)).apply_async()
        if grouped.get(timeout=300) != list(range(total)):
            raise RuntimeError("celery returned a wrong result")
        group_s = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return [
        JobsRun("celery", "delay", workers, total, delay_s),
        JobsRun("celery", "group", workers, total, group_s),
    ]


# -- sync latency -------------------------------------------------------------------------


def sync_latency(duration_s: int) -> dict[str, wrk_load.LoadResult]:
    script = wrk_load.write_script(RESULTS / "echo_jobs.lua", ["hello world"])
    out: dict[str, wrk_load.LoadResult] = {}
    modes = {
        "embedded": {},
        "redis": {
            "SCALESERVE_REDIS_URL": REDIS_URL,
            "SCALESERVE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        },
    }
    for mode, env in modes.items():
        service_env = {**env, "SCALESERVE_LOG_LEVEL": "warning"}
        with running_service(ECHO, env=service_env, auth=True) as service:
            os.environ[AUTH_ENV] = service.headers["Authorization"]
            url = f"{service.base_url}/v1/models/echo/predict"
            wrk_load.run(url, script, 1, 1)  # warm up
            out[mode] = wrk_load.run(url, script, 1, duration_s)
        if "SCALESERVE_REDIS_PREFIX" in env:
            _delete_prefix(env["SCALESERVE_REDIS_PREFIX"])
    return out


# -- report -------------------------------------------------------------------------------


def print_report(
    runs: list[JobsRun],
    latency: dict[str, list[wrk_load.LoadResult]],
    floors: list[transport_floor.Floor],
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    rounds = len(floors)
    print(f"\n{os.cpu_count()} CPUs; load average {_load(load[0])} at start, {_load(load[1])}")
    print(f"at end; median of {rounds} round(s), spread = lowest..highest\n")
    rates = _rates(runs)
    print("Async jobs end to end through Redis (submit -> result), one input per job")
    headers = ["system", "api", "workers", "jobs", "jobs/s", "spread", "vs delay", "vs group"]
    rows = []
    for (system, api, workers), per_s in rates.items():
        median = statistics.median(per_s)
        jobs = next(r.jobs for r in runs if (r.system, r.api, r.workers) == (system, api, workers))
        delay = statistics.median(rates[("celery", "delay", workers)])
        group = statistics.median(rates[("celery", "group", workers)])
        rows.append(
            [
                system,
                api,
                str(workers),
                f"{jobs:,}",
                f"{median:,.0f}",
                f"{min(per_s):,.0f}..{max(per_s):,.0f}",
                f"{median / delay:.1f}x",
                f"{median / group:.1f}x",
            ]
        )
    print(table(headers, rows))
    print("\nSync predict at concurrency 1 (wrk), median p50 of the rounds")
    p50 = {mode: statistics.median(r.p50_ms for r in results) for mode, results in latency.items()}
    print(
        table(
            ["queue", "req/s", "p50 ms", "p50 spread", "p99 ms"],
            [
                [
                    mode,
                    f"{statistics.median(r.requests_per_s for r in results):,.0f}",
                    f"{p50[mode]:.3f}",
                    f"{min(r.p50_ms for r in results):.3f}..{max(r.p50_ms for r in results):.3f}",
                    f"{statistics.median(r.p99_ms for r in results):.3f}",
                ]
                for mode, results in latency.items()
            ],
        )
    )
    redis_floor = statistics.median(f.redis_p50_ms for f in floors)
    socket_floor = statistics.median(f.socket_p50_ms for f in floors)
    print(
        "\nThe transport alone, no scaleserve code (benchmarks/transport_floor.py): one round"
        f"\ntrip between two processes through Redis streams p50 {redis_floor:.3f} ms, through"
        f"\na Unix socket p50 {socket_floor:.3f} ms. Their difference is"
        f" {(redis_floor - socket_floor) / p50['embedded']:.0%} of the embedded p50; the target"
        " allows 30%."
    )
    print()
    for api in sorted({r.api for r in runs if r.system == "scaleserve"}, reverse=True):
        best = max(
            statistics.median(rates[("scaleserve", api, w)])
            / statistics.median(rates[("celery", "delay", w)])
            for w in (1, 2)
        )
        verdict = "PASS" if best >= 5 else "MISS"
        print(
            f"target jobs/s >= 5x celery delay, scaleserve {api:5}: best {best:.1f}x -> {verdict}"
        )
    ratio = p50["redis"] / p50["embedded"]
    verdict = "PASS" if ratio <= 1.3 else "MISS"
    print(f"target redis p50 <= 1.3x embedded at c=1: {ratio:.2f}x -> {verdict}")


def _rates(runs: list[JobsRun]) -> dict[tuple[str, str, int], list[float]]:
    rates: dict[tuple[str, str, int], list[float]] = {}
    for run in sorted(runs, key=lambda r: (r.workers, r.system != "scaleserve", r.api)):
        rates.setdefault((run.system, run.api, run.workers), []).append(run.per_s)
    return rates


def _load(values: tuple[float, ...]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
