"""``scaleserve serve``: the gateway, its embedded queue and its supervised workers in one command.

Order of a clean stop (SIGTERM or Ctrl-C): the gateway stops accepting connections and
finishes the requests it holds (workers still running); then every worker drains and exits;
then the queue closes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import uvicorn

from scaleserve.api.app import create_app
from scaleserve.api.jobs import JobsApi
from scaleserve.jobs.backends.sqlite import SqliteJobStore
from scaleserve.jobs.runner import JobRunner
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.scale.runtime_dir import RuntimeDir
from scaleserve.scale.supervisor import Supervisor, WorkerPlan
from scaleserve.settings import ServeSettings
from scaleserve.worker.runtime import THREADS_ENV

log = logging.getLogger(__name__)

JOBS_DB_FILE = "jobs.sqlite3"


def worker_plans(
    settings: ServeSettings, specs: list[ModelSpec], socket_path: str
) -> list[WorkerPlan]:
    """One plan per worker process, each with an equal share of this machine's CPUs."""
    total = sum(spec.workers for spec in specs)
    env = dict(os.environ)
    env.setdefault(THREADS_ENV, str(max(1, (os.cpu_count() or 1) // total)))
    env["PYTHONUNBUFFERED"] = "1"
    return [
        WorkerPlan(
            model=spec.name,
            slot=slot,
            argv=(
                sys.executable,
                "-m",
                "scaleserve.worker",
                "--target",
                settings.target,
                "--model",
                spec.name,
                "--socket",
                socket_path,
                "--slot",
                str(slot),
            ),
            env=env,
        )
        for spec in specs
        for slot in range(spec.workers)
    ]


async def serve(settings: ServeSettings, specs: list[ModelSpec], runtime: RuntimeDir) -> None:
    """Run until SIGTERM/SIGINT, then drain as described in the module docstring."""
    if settings.workers is not None:
        specs = [spec.with_workers(settings.workers) for spec in specs]
    broker = EmbeddedBroker(runtime.socket_path, specs)
    supervisor = Supervisor(worker_plans(settings, specs, runtime.socket_path))
    job_store = SqliteJobStore(Path(settings.data_dir) / JOBS_DB_FILE)
    job_runner = JobRunner(job_store, broker, [s.name for s in specs], settings.jobs)
    jobs = JobsApi(job_store, job_runner.submit, specs, settings.jobs)
    app = create_app(specs, broker, settings.gateway, jobs)
    config = uvicorn.Config(
        app,
        host=settings.gateway.host,
        port=settings.gateway.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=settings.gateway.proxy_headers,
        timeout_graceful_shutdown=int(settings.gateway.drain_timeout_s),
    )
    server = uvicorn.Server(config)
    await broker.start()
    await job_store.open()
    try:
        await supervisor.start()
        await job_runner.start()
        # uvicorn re-raises the signal that stopped it once it has shut down; handlers of
        # our own keep that from killing this process before the workers have drained.
        _absorb_stop_signals()
        await server.serve()
        log.info("gateway stopped; draining workers")
        await supervisor.stop(settings.gateway.drain_timeout_s)
    finally:
        await job_runner.close()
        await job_store.close()
        await broker.close()


def run(settings: ServeSettings, specs: list[ModelSpec], runtime: RuntimeDir) -> int:
    try:
        import uvloop

        uvloop.run(serve(settings, specs, runtime))
    finally:
        runtime.remove()
    return 0


def _absorb_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
