"""Worker death, restart and graceful drain, on services of their own (these tests harm them)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from scaleserve.testing import running_service
from tests.helpers import metric_value, wait_for_metric

FIXTURE_APP = str(Path(__file__).parents[1] / "fixtures" / "app.py")
PROBE = "/v1/models/probe/predict"


async def test_killed_worker_fails_its_requests_with_503_and_is_restarted() -> None:
    with running_service(f"{FIXTURE_APP}:Probe") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            [victim] = service.worker_pids("probe")
            held = [
                asyncio.create_task(
                    client.post(PROBE, json={"inputs": [{"value": v, "sleep_ms": 20_000}]})
                )
                for v in range(3)
            ]
            await wait_for_metric(client, "scaleserve_queue_depth", 3, model="probe")
            os.kill(victim, signal.SIGKILL)
            async with asyncio.timeout(10):  # far less than the 20 s the model would take
                responses = await asyncio.gather(*held)
            for response in responses:
                assert response.status_code == 503
                assert response.json()["code"] == "worker_lost"
                assert "retry-after" in response.headers

            await wait_for_metric(client, "scaleserve_workers_ready", 1, model="probe")
            [replacement] = service.worker_pids("probe")
            assert replacement != victim
            after = await client.post(PROBE, json={"inputs": [{"value": 7}]})
            assert after.status_code == 200
            assert after.json()["outputs"][0]["pid"] == replacement
            metrics = (await client.get("/metrics")).text
            assert metric_value(metrics, "scaleserve_worker_restarts_total", model="probe") == 1


async def test_queued_requests_survive_a_worker_death() -> None:
    with running_service(f"{FIXTURE_APP}:Probe") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            [victim] = service.worker_pids("probe")
            # 8 items fill the worker's batch; the next 4 wait in the gateway's queue
            held = asyncio.create_task(
                client.post(
                    PROBE, json={"inputs": [{"value": v, "sleep_ms": 20_000} for v in range(8)]}
                )
            )
            await wait_for_metric(client, "scaleserve_queue_depth", 8, model="probe")
            queued = asyncio.create_task(
                client.post(PROBE, json={"inputs": [{"value": v} for v in range(4)]})
            )
            await wait_for_metric(client, "scaleserve_queue_queued", 4, model="probe")
            os.kill(victim, signal.SIGKILL)
            assert (await held).status_code == 503
            recovered = await queued
            assert recovered.status_code == 200
            assert [o["value"] for o in recovered.json()["outputs"]] == [0, 1, 2, 3]


async def test_sigterm_drains_in_flight_requests_then_exits_cleanly() -> None:
    with running_service(f"{FIXTURE_APP}:Probe") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            workers = [psutil.Process(pid) for pid in service.worker_pids()]
            in_flight = [
                asyncio.create_task(
                    client.post(PROBE, json={"inputs": [{"value": v, "sleep_ms": 1000}]})
                )
                for v in range(3)
            ]
            await wait_for_metric(client, "scaleserve_queue_depth", 3, model="probe")
            service.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*in_flight)
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert [r.json()["outputs"][0]["value"] for r in responses] == [0, 1, 2]
        assert await asyncio.to_thread(service.process.wait, 30) == 0
        for worker in workers:
            worker.wait(timeout=10)
            assert not worker.is_running()
        assert "Traceback" not in service.logs()


async def test_workers_flag_starts_that_many_processes_and_spreads_work() -> None:
    with running_service(f"{FIXTURE_APP}:Probe", workers=2) as service:
        assert len(service.worker_pids("probe")) == 2
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            await wait_for_metric(client, "scaleserve_workers_ready", 2, model="probe")
            assert (await client.get("/readyz")).json()["models"] == {"probe": 2}
            responses = await asyncio.gather(
                *(
                    client.post(PROBE, json={"inputs": [{"value": v, "sleep_ms": 100}]})
                    for v in range(16)
                )
            )
        pids = {r.json()["outputs"][0]["pid"] for r in responses}
        assert pids == set(service.worker_pids("probe"))


def test_model_that_cannot_load_keeps_the_service_unready(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import scaleserve\n"
        "class Broken(scaleserve.Model):\n"
        "    def load(self):\n"
        "        raise RuntimeError('weights missing')\n"
        "    def predict(self, batch: list[str]) -> list[str]:\n"
        "        return batch\n"
    )
    service = running_service(app, ready_timeout_s=3)
    with pytest.raises(TimeoutError) as failure:
        service.__enter__()
    assert "weights missing" in str(failure.value)
