"""scaleserve on Redis with real processes: separate gateways and worker pools, worker
kills, a stalled worker, a Redis outage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import free_port, running_service, running_workers

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"


async def submit_job(client: httpx.AsyncClient, value: int, sleep_ms: float = 0) -> str:
    response = await client.post(
        "/v1/jobs", json={"model": "probe", "inputs": [{"value": value, "sleep_ms": sleep_ms}]}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def wait_ended(
    client: httpx.AsyncClient, job_id: str, timeout_s: float = 120
) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            job = (await client.get(f"/v1/jobs/{job_id}")).json()
            if job["status"] not in {"queued", "running"}:
                return dict(job)
            await asyncio.sleep(0.05)


async def test_gateways_and_workers_started_apart_share_one_queue(
    deployment: dict[str, str],
) -> None:
    with (
        running_workers(PROBE, args=["--workers", "2"], env=deployment) as workers,
        running_service(PROBE, command="api", env=deployment) as first,
        running_service(PROBE, command="api", env=deployment) as second,
    ):
        async with (
            httpx.AsyncClient(base_url=first.base_url, timeout=60) as a,
            httpx.AsyncClient(base_url=second.base_url, timeout=60) as b,
        ):
            answers = await asyncio.gather(
                *(
                    (a if n % 2 else b).post(
                        "/v1/models/probe/predict", json={"inputs": [{"value": n, "sleep_ms": 50}]}
                    )
                    for n in range(16)
                )
            )
            assert [r.json()["outputs"][0]["value"] for r in answers] == list(range(16))
            assert {r.json()["outputs"][0]["pid"] for r in answers} <= set(workers.worker_pids())
            assert max(r.json()["outputs"][0]["batch_size"] for r in answers) > 1
            job_id = await submit_job(a, 42)
            job = await wait_ended(b, job_id)  # read through the other gateway
            assert job["status"] == "succeeded"
            assert job["outputs"][0]["value"] == 42


async def test_no_accepted_job_is_lost_while_workers_are_killed(deployment: dict[str, str]) -> None:
    total = 1500
    with (
        running_workers(PROBE, args=["--workers", "2"], env=deployment) as workers,
        running_service(PROBE, command="api", env=deployment) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
            limit = asyncio.Semaphore(32)

            async def submit(n: int) -> str:
                async with limit:
                    return await submit_job(client, n, sleep_ms=5)

            async def kill_workers() -> int:
                kills = 0
                for _ in range(6):
                    await asyncio.sleep(0.4)
                    with contextlib.suppress(IndexError, ProcessLookupError):
                        os.kill(random.choice(workers.worker_pids()), signal.SIGKILL)
                        kills += 1
                return kills

            ids, kills = await asyncio.gather(
                asyncio.gather(*(submit(n) for n in range(total))), kill_workers()
            )
            assert kills >= 3
            jobs = []
            for job_id in ids:
                async with limit:
                    jobs.append(await wait_ended(client, job_id))
    assert [j["status"] for j in jobs] == ["succeeded"] * total
    assert [j["outputs"][0]["value"] for j in jobs] == list(range(total))
    assert any(j["attempts"] > 1 for j in jobs), (
        "no job was ever caught by a kill: the test proved nothing"
    )


async def test_a_stalled_worker_is_taken_over_and_its_late_result_ignored(
    deployment: dict[str, str], redis: Redis
) -> None:
    with (
        running_workers(PROBE, env=deployment) as stalled_pool,
        running_service(PROBE, command="api", env=deployment) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
            job_id = await submit_job(client, 9, sleep_ms=1500)
            await event_seen(client, job_id, "running")
            [stalled] = stalled_pool.worker_pids()
            os.kill(stalled, signal.SIGSTOP)
            try:
                with running_workers(PROBE, env=deployment) as rescuers:
                    job = await wait_ended(client, job_id)
                    [rescuer] = rescuers.worker_pids()
            finally:
                woke_at = time.time()
                os.kill(stalled, signal.SIGCONT)
            assert job["status"] == "succeeded"
            assert job["outputs"][0]["pid"] == rescuer
            # the stalled worker wakes, finishes its copy and writes it; once it asks Redis for
            # work again (its heartbeat moves), that late write has happened and changed nothing
            await heartbeat_after(redis, deployment["SCALESERVE_REDIS_PREFIX"], stalled, woke_at)
            again = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert again["outputs"] == job["outputs"]


async def event_seen(client: httpx.AsyncClient, job_id: str, status: str) -> None:
    """Follow the job's Server-Sent Events until one says ``status``."""
    async with asyncio.timeout(30), client.stream("GET", f"/v1/jobs/{job_id}/events") as events:
        async for line in events.aiter_lines():
            if line == f"event: {status}":
                return


async def heartbeat_after(redis: Redis, prefix: str, pid: int, since: float) -> None:
    keys = RedisKeys(prefix)
    beats: list[tuple[bytes, float]] = []
    for _ in range(1200):
        beats = await redis.zrange(keys.workers("probe"), 0, -1, withscores=True)
        if any(f"-{pid}-" in member.decode() and score > since for member, score in beats):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"worker {pid} never asked for work after {since}: {beats}")


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def until_status(
    client: httpx.AsyncClient, status: int, timeout_s: float = 60
) -> httpx.Response:
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.post(
                "/v1/models/probe/predict", json={"inputs": [{"value": 1}]}
            )
            if response.status_code == status:
                return response
            await asyncio.sleep(0.1)


async def test_redis_outage_gives_fast_503_and_service_resumes_by_itself(redis_url: str) -> None:
    port = free_port()
    env = {"SCALESERVE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    with private_redis(port) as redis_server:
        await asyncio.sleep(0.5)  # redis-server has no readiness signal we can await here
        with running_service(PROBE, env=env) as service:
            async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
                assert (await until_status(client, 200)).status_code == 200
                redis_server.kill()
                redis_server.wait()
                loop = asyncio.get_running_loop()
                started = loop.time()
                refused = await until_status(client, 503, timeout_s=10)
                assert loop.time() - started < 10
                assert refused.json()["code"] == "queue_unavailable"
                assert refused.headers["retry-after"]
                with private_redis(port):
                    resumed = await until_status(client, 200, timeout_s=60)
                    assert resumed.json()["outputs"][0]["value"] == 1


def test_durable_mode_refuses_a_redis_that_can_lose_jobs(redis_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaleserve",
            "serve",
            PROBE,
            "--redis",
            redis_url,
            "--durable",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "appendonly" in result.stderr


async def test_a_poison_job_is_dead_lettered_without_holding_up_others(
    deployment: dict[str, str], redis: Redis
) -> None:
    with (
        running_workers(PROBE, args=["--workers", "2"], env=deployment),
        running_service(PROBE, command="api", env=deployment) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
            response = await client.post(
                "/v1/jobs", json={"model": "probe", "inputs": [{"value": 0, "crash": True}]}
            )
            poison = response.json()["id"]
            healthy = [await submit_job(client, n) for n in range(1, 6)]
            others = [await wait_ended(client, job_id) for job_id in healthy]
            poisoned = await wait_ended(client, poison)
    assert [j["status"] for j in others] == ["succeeded"] * 5
    assert poisoned["status"] == "failed"
    assert "delivered 4 times" in poisoned["error"]["message"]
    dead = RedisKeys(deployment["SCALESERVE_REDIS_PREFIX"]).dead_letters("probe")
    assert await redis.xlen(dead) == 1


async def test_batches_of_jobs_run_through_redis_and_count_their_compute_as_usage(
    deployment: dict[str, str],
) -> None:
    with (
        running_workers(PROBE, args=["--workers", "2"], env=deployment),
        running_service(PROBE, command="api", env=deployment) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
            jobs = [{"model": "probe", "inputs": [{"value": n, "sleep_ms": 20}]} for n in range(40)]
            response = await client.post("/v1/jobs/batch", json={"jobs": jobs})
            assert response.status_code == 202, response.text
            ids = response.json()["ids"]
            async with asyncio.timeout(60):
                while True:
                    read = (await client.get("/v1/jobs", params={"ids": ",".join(ids)})).json()
                    assert read["not_found"] == []
                    if all(j["status"] == "succeeded" for j in read["jobs"]):
                        break
                    await asyncio.sleep(0.05)
            assert [j["outputs"][0]["value"] for j in read["jobs"]] == list(range(40))
            for _ in range(300):  # the gateway flushes usage once a second
                if (usage := await probe_usage(client))["requests"] >= 40:
                    break
                await asyncio.sleep(0.1)
    assert (usage["requests"], usage["items"]) == (40, 40)
    batches = 40 / 8  # at least: 8 items of 20 ms share a batch
    assert 20e-3 * batches <= usage["compute_s"] < 40 * 20e-3 + 5  # counted by the workers


async def probe_usage(client: httpx.AsyncClient) -> dict[str, Any]:
    rows = (await client.get("/v1/usage")).json()["data"]
    return next((row for row in rows if row["model"] == "probe"), {"requests": 0})
