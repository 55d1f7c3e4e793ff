"""A worker never outlives its supervisor: ``kill -9`` of ``scaleserve worker`` or
``scaleserve serve`` takes its worker processes with it (they run in sessions of their own,
so nothing else would)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import psutil

from scaleserve.testing import Service, running_service, running_workers

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"


async def _workers_of(service: Service, count: int) -> list[psutil.Process]:
    async with asyncio.timeout(60):
        while len(pids := service.worker_pids()) < count:  # noqa: ASYNC110 - processes have no event
            await asyncio.sleep(0.05)
    return [psutil.Process(pid) for pid in pids]


async def _all_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """The processes still alive after ``timeout_s`` (each waited on, not slept for)."""
    _, alive = await asyncio.to_thread(psutil.wait_procs, processes, timeout_s)
    return alive


async def test_workers_exit_when_scaleserve_worker_is_killed(deployment: dict[str, str]) -> None:
    with running_workers(PROBE, args=["--workers", "2"], env=deployment) as supervisor:
        workers = await _workers_of(supervisor, 2)
        supervisor.process.send_signal(signal.SIGKILL)
        supervisor.process.wait()
        alive = await _all_gone(workers, timeout_s=20)
        for process in alive:
            process.kill()
        assert alive == [], "workers outlived their supervisor"


async def test_workers_exit_when_scaleserve_serve_is_killed() -> None:
    with running_service(PROBE, workers=2) as service:
        workers = await _workers_of(service, 2)
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        alive = await _all_gone(workers, timeout_s=20)
        for process in alive:
            process.kill()
        assert alive == [], "workers outlived their supervisor"
