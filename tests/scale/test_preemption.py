"""Preemption-safe workers on Redis: SIGTERM (a spot machine taken away, a scale-down)
under load loses and fails nothing; a batch that outlives the grace period is handed back
to the queue at once, not after the idle timeout of a takeover."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from scaleserve.queue.backends.redis_wire import GROUP
from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import running_service, running_workers

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"


async def _worker_pids(workers: object, count: int) -> list[int]:
    async with asyncio.timeout(60):
        while len(pids := workers.worker_pids()) < count:  # type: ignore[attr-defined]  # noqa: ASYNC110 - processes have no event
            await asyncio.sleep(0.05)
    return list(pids)


async def test_sigterm_to_workers_under_load_loses_and_fails_nothing(
    deployment: dict[str, str],
) -> None:
    with (
        running_workers(PROBE, args=["--workers", "2"], env=deployment) as workers,
        running_service(PROBE, command="api", env=deployment) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
            first = await _worker_pids(workers, 2)

            async def one(value: int) -> int:
                body = {"inputs": [{"value": value, "sleep_ms": 30}]}
                return (await client.post("/v1/models/probe/predict", json=body)).status_code

            load = [asyncio.create_task(one(v)) for v in range(300)]
            await asyncio.sleep(0.5)  # let the load reach both workers (load, not a wait)
            for pid in first:  # each taken away in turn, as spot machines are
                os.kill(pid, signal.SIGTERM)
                await asyncio.sleep(0.3)
            statuses = await asyncio.gather(*load)
            replaced = await _worker_pids(workers, 2)
    assert statuses == [200] * 300
    assert not set(first) & set(replaced)  # both were taken away, and replaced


async def test_a_batch_past_its_grace_period_is_handed_back_at_once(
    deployment: dict[str, str], redis: Redis
) -> None:
    env = {**deployment, "SCALESERVE_STOP_GRACE_S": "0.5", "SCALESERVE_CLAIM_IDLE_S": "120"}
    with (
        running_workers(PROBE, args=["--workers", "2"], env=env) as workers,
        running_service(PROBE, command="api", env=env) as gateway,
    ):
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=90) as client:
            await _worker_pids(workers, 2)
            body = {"inputs": [{"value": 7, "sleep_ms": 3000}]}
            started = time.monotonic()
            held = asyncio.create_task(client.post("/v1/models/probe/predict", json=body))
            holder = await _holder(redis, env["SCALESERVE_REDIS_PREFIX"])
            os.kill(holder, signal.SIGTERM)
            answer = await held
            took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["pid"] != holder  # another worker ran it again
    # 3 s on the first worker until the grace period ended it, 3 s again on another: far
    # less than the 120 s after which a takeover would have found the entry
    assert took < 20, f"answered after {took:.1f}s"


async def _holder(redis: Redis, prefix: str) -> int:
    """The worker holding the request: the consumer of its pending entry (a consumer is
    named ``host-pid-random``)."""
    stream = RedisKeys(prefix).stream("probe")
    async with asyncio.timeout(30):
        while not (pending := await redis.xpending_range(stream, GROUP, "-", "+", 1)):  # noqa: ASYNC110 - Redis has no event for it
            await asyncio.sleep(0.02)
    consumer = pending[0]["consumer"].decode()
    return int(consumer.split("-")[-2])
