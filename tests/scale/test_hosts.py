"""scaleserve across hosts: network namespaces on this machine, one Redis on a host of its
own, gateways and workers on others (``scaleserve.testing_hosts``). Throughput grows with
worker hosts; a worker host killed or cut off under load loses no accepted job; a gateway
host's death fails only the requests it held."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import tenants_command
from scaleserve.testing_hosts import Host, HostLab

SLEEPER = str(Path(__file__).parents[1] / "fixtures" / "autoscale_app.py") + ":Sleeper"
"""50 ms per batch of up to 4 items, off the CPU: about 80 items/s per worker."""

why_not = HostLab.available()
pytestmark = pytest.mark.skipif(why_not is not None, reason=f"no test hosts here: {why_not}")


@dataclass
class Cluster:
    lab: HostLab
    env: dict[str, str]
    key: str

    def gateway(self, name: str) -> tuple[Host, str]:
        host = self.lab.add(name)
        argv = [sys.executable, "-m", "scaleserve", "api", SLEEPER,
                "--host", host.address, "--port", "8000"]  # fmt: skip
        host.start(argv, self.env)
        return host, f"http://{host.address}:8000"

    def worker_host(self, name: str) -> Host:
        host = self.lab.add(name)
        argv = [sys.executable, "-m", "scaleserve", "worker", SLEEPER, "--workers", "1"]
        host.start(argv, self.env)
        return host

    def client(self, url: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.AsyncClient(base_url=url, headers=headers, timeout=60)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with HostLab() as lab:
        _, url = lab.add_redis()
        env = {"SCALESERVE_REDIS_URL": url, "SCALESERVE_CLAIM_IDLE_S": "2"}
        key = _provision(url)
        yield Cluster(lab, env, key)


def _provision(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            created = tenants_command("--redis", url, "create", "default")
            return str(created["key"])
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # Redis on its host is starting


async def _ready(client: httpx.AsyncClient, workers: int = 1) -> None:
    async with asyncio.timeout(90):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                ready = (await client.get("/readyz")).json()
                if ready["models"].get("sleeper", 0) >= workers:
                    return
            await asyncio.sleep(0.1)


async def _items_per_s(client: httpx.AsyncClient, seconds: float, concurrency: int = 32) -> float:
    loop = asyncio.get_running_loop()
    done = 0
    stop_at = loop.time() + seconds

    async def one() -> None:
        nonlocal done
        while loop.time() < stop_at:
            answer = await client.post("/v1/models/sleeper/predict", json={"inputs": [1.0]})
            assert answer.status_code == 200, answer.text
            done += 1

    started = loop.time()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return done / (loop.time() - started)


async def test_throughput_grows_with_worker_hosts(cluster: Cluster) -> None:
    _, url = cluster.gateway("gw")
    cluster.worker_host("w1")
    async with cluster.client(url) as client:
        await _ready(client, 1)
        one = await _items_per_s(client, 4)
        cluster.worker_host("w2")
        await _ready(client, 2)
        two = await _items_per_s(client, 4)
    print(f"1 worker host: {one:.0f} items/s; 2: {two:.0f} items/s ({two / one:.2f}x)")
    assert two / one > 1.6


async def _submit(client: httpx.AsyncClient, count: int) -> list[str]:
    jobs = [{"model": "sleeper", "inputs": [float(i)]} for i in range(count)]
    answer = await client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 202, answer.text
    return [str(job_id) for job_id in answer.json()["ids"]]


async def _all_ended(client: httpx.AsyncClient, ids: list[str]) -> dict[str, int]:
    async with asyncio.timeout(120):
        while True:
            statuses: dict[str, int] = {}
            for at in range(0, len(ids), 100):
                read = await client.get("/v1/jobs", params={"ids": ",".join(ids[at : at + 100])})
                for job in read.json()["jobs"]:
                    statuses[job["status"]] = statuses.get(job["status"], 0) + 1
            if not statuses.keys() & {"queued", "running"}:
                return statuses
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("fate", ["killed", "cut off"])
async def test_a_worker_host_lost_under_load_loses_no_accepted_job(
    cluster: Cluster, fate: str
) -> None:
    _, url = cluster.gateway("gw")
    doomed = cluster.worker_host("w1")
    cluster.worker_host("w2")
    async with cluster.client(url) as client:
        await _ready(client, 2)
        ids = await _submit(client, 300)
        await asyncio.sleep(0.5)  # both hosts are busy with them (load, not a wait)
        if fate == "killed":
            doomed.kill()
        else:
            doomed.cut()
        statuses = await _all_ended(client, ids)
    assert statuses == {"succeeded": 300}


async def test_a_gateway_host_death_fails_only_the_requests_it_held(cluster: Cluster) -> None:
    doomed, first_url = cluster.gateway("gw1")
    _, second_url = cluster.gateway("gw2")
    cluster.worker_host("w1")
    cluster.worker_host("w2")
    async with cluster.client(first_url) as first, cluster.client(second_url) as second:
        await _ready(first, 2)
        await _ready(second, 2)
        accepted = await _submit(first, 100)  # durable in Redis before the 202

        async def predict(client: httpx.AsyncClient) -> int | str:
            try:
                body = {"inputs": [1.0]}
                return (await client.post("/v1/models/sleeper/predict", json=body)).status_code
            except httpx.HTTPError as exc:
                return type(exc).__name__

        held = [asyncio.create_task(predict(first)) for _ in range(40)]
        survivors = [asyncio.create_task(predict(second)) for _ in range(40)]
        await asyncio.sleep(0.2)
        doomed.kill()
        lost = await asyncio.gather(*held)
        served = await asyncio.gather(*survivors)
        statuses = await _all_ended(second, accepted)  # the jobs it accepted run elsewhere
    assert served == [200] * 40  # the other gateway failed nothing
    # the dead one's requests were answered before it died or lost with their connection
    assert set(lost) <= {200, "RemoteProtocolError", "ReadError", "ConnectError"}, lost
    assert lost.count(200) < 40  # it died holding some
    assert statuses == {"succeeded": 100}  # what it had accepted ran elsewhere
