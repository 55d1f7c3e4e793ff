"""Serving stale entries when a model's workers are down, in a service of its own."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service
from tests.cache.app import BROKEN_FLAG_ENV
from tests.cache.conftest import CACHE_APP
from tests.helpers import metric_value

URL = "/v1/models/fragile/predict"


@pytest.fixture
def broken_flag(tmp_path: Path) -> Path:
    return tmp_path / "broken"


@pytest.fixture
def service(broken_flag: Path) -> Iterator[Service]:
    with running_service(f"{CACHE_APP}:Fragile", env={BROKEN_FLAG_ENV: str(broken_flag)}) as run:
        yield run


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as http:
        yield http


async def wait_until_no_worker(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(60):
        while True:
            text = (await client.get("/metrics")).text
            if metric_value(text, "scaleserve_workers_ready", model="fragile") == 0:
                return
            await asyncio.sleep(0.05)


async def test_stale_entries_answer_while_the_workers_are_down(
    service: Service, client: httpx.AsyncClient, broken_flag: Path
) -> None:
    fresh = await client.post(URL, json={"inputs": [{"value": 1}, {"value": 2}]})
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["x-cache"] == "miss"
    await asyncio.sleep(0.6)  # past the 0.5 s TTL: only the clock can tell
    await asyncio.to_thread(broken_flag.touch)  # restarts of the worker now fail to load
    for pid in service.worker_pids("fragile"):
        os.kill(pid, signal.SIGKILL)
    await wait_until_no_worker(client)

    stale = await client.post(URL, json={"inputs": [{"value": 2}, {"value": 1}]})
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "stale"
    assert stale.json()["outputs"] == fresh.json()["outputs"][::-1]
    text = (await client.get("/metrics")).text
    assert metric_value(text, "scaleserve_cache_stale_total", model="fragile") == 2

    # an item with nothing to fall back on waits for a worker as before: here, in vain
    lost = await client.post(
        URL, json={"inputs": [{"value": 3}]}, headers={"x-request-timeout": "0.5"}
    )
    assert lost.status_code == 504

    await asyncio.to_thread(broken_flag.unlink)  # the next restart loads and refreshes it
    async with asyncio.timeout(60):
        while True:
            answer = await client.post(URL, json={"inputs": [{"value": 1}]})
            if answer.headers["x-cache"] != "stale":
                break
            await asyncio.sleep(0.1)  # the supervisor's restart backoff: polled over HTTP
    assert answer.headers["x-cache"] == "miss"
    assert answer.json()["outputs"][0]["pid"] != fresh.json()["outputs"][0]["pid"]
