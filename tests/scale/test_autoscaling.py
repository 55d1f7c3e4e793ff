"""The supervisor scales a model's workers on its backlog: up under load within seconds,
steady under steady load, down after the window, to zero and back from it for a request
that waits for its cold start."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import httpx

from scaleserve.testing import running_service
from tests.helpers import metric_value

APP = Path(__file__).parents[1] / "fixtures" / "autoscale_app.py"


async def _workers(client: httpx.AsyncClient, model: str) -> tuple[float, float]:
    text = (await client.get("/metrics")).text
    current = metric_value(text, "scaleserve_workers_current", model=model)
    ready = metric_value(text, "scaleserve_workers_ready", model=model)
    return current, ready


async def _send_at(client: httpx.AsyncClient, per_s: float, seconds: float) -> list[int]:
    """Open-loop load: a request every ``1/per_s`` s whatever the answers do (load, not a
    test sleep); the statuses of all of them."""
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), []
    while loop.time() - start < seconds:
        sent.append(
            asyncio.create_task(client.post("/v1/models/sleeper/predict", json={"inputs": [1.0]}))
        )
        await asyncio.sleep(max(0.0, start + len(sent) / per_s - loop.time()))
    return [(await task).status_code for task in sent]


async def _watch(client: httpx.AsyncClient, seen: list[tuple[float, float]]) -> None:
    while True:
        seen.append((time.monotonic(), (await _workers(client, "sleeper"))[0]))
        await asyncio.sleep(0.1)  # a sampling period of the observation, not a wait


async def test_a_load_step_scales_up_holds_steady_and_scales_back_down() -> None:
    with running_service(f"{APP}:Sleeper") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            assert await _workers(client, "sleeper") == (1, 1)
            seen: list[tuple[float, float]] = []
            watcher = asyncio.create_task(_watch(client, seen))
            started = time.monotonic()
            try:
                statuses = await _send_at(client, per_s=150, seconds=10)
                stopped = time.monotonic()
                await _until_workers(client, 1, timeout_s=20)
                back_down = time.monotonic()
            finally:
                watcher.cancel()
        log = service.logs()
    assert set(statuses) == {200}  # scaling failed nothing
    up = next(at for at, count in seen if count >= 2)
    assert up - started < 4.0, f"scaled up {up - started:.1f}s into the load"
    steady = [count for at, count in seen if started + 5 <= at <= stopped]
    changes = sum(1 for a, b in itertools.pairwise(steady) if a != b)
    assert max(steady) >= 2 and changes <= 2, steady  # no flapping under a steady load
    assert back_down - stopped >= 2.5  # the down window (3 s) held the workers
    assert "autoscale sleeper: 1 ->" in log and "arrivals" in log


async def _until_workers(client: httpx.AsyncClient, count: float, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while (await _workers(client, "sleeper"))[0] != count:  # noqa: ASYNC110 - a metric: no event
            await asyncio.sleep(0.1)


async def test_a_model_scaled_to_zero_answers_its_first_request_within_the_deadline() -> None:
    with running_service(f"{APP}:Cold") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            assert (await client.get("/readyz")).status_code == 200  # ready while asleep
            assert await _cold_workers(client) == 0
            started = time.monotonic()
            answer = await client.post("/v1/models/cold/predict", json={"inputs": [1.0]})
            cold_start_s = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            print(f"cold start: first answer {cold_start_s:.2f}s after the request")
            assert cold_start_s < 30  # the model's deadline is 60 s
            async with asyncio.timeout(20):  # idle for 2 s: back to zero
                while await _cold_workers(client) != 0:  # noqa: ASYNC110 - a metric: no event
                    await asyncio.sleep(0.1)
            again = await client.post("/v1/models/cold/predict", json={"inputs": [2.0]})
            assert again.status_code == 200
        log = service.logs()
    assert "autoscale cold: 0 -> 1 workers: backlog 1" in log
    assert "autoscale cold: 1 -> 0 workers: no request for" in log


async def _cold_workers(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return metric_value(text, "scaleserve_workers_current", model="cold")
