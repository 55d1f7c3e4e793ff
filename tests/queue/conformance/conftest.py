"""One fixture over every queue backend, and real worker processes to kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scaleserve.model.loader import load_specs
from scaleserve.model.spec import ModelSpec
from tests.queue.conformance.backends import Backend
from tests.queue.conformance.models import LOG_ENV

MODELS = Path(__file__).with_name("models.py")
MAX_DELIVERIES = 2
BACKENDS = ["embedded", "redis", "rabbitmq", "nats"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, queue_prefix: str) -> Backend:
    name = request.param
    if name == "embedded":
        return Backend(name, "", queue_prefix, redelivers=False)
    url_fixture = {"redis": "redis_url", "rabbitmq": "amqp_url", "nats": "nats_url"}[name]
    return Backend(name, str(request.getfixturevalue(url_fixture)), queue_prefix)


@pytest.fixture(scope="session")
def spec() -> ModelSpec:
    [found] = [s for s in load_specs(str(MODELS)) if s.name == "work"]
    return found


class RunLog:
    """What the workers wrote to the conformance log (``models.LOG_ENV``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def pid_of(self, line: str) -> int | None:
        """The worker that wrote ``line`` (``start 3``), if one did."""
        for found in self.lines():
            text, _, pid = found.rpartition(" ")
            if text == line:
                return int(pid)
        return None

    async def wait_for(self, line: str, timeout_s: float = 30) -> int:
        """Wait until a worker writes ``line``; its pid."""
        await eventually(lambda: self.pid_of(line) is not None, timeout_s)
        pid = self.pid_of(line)
        assert pid is not None
        return pid


async def eventually(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """Poll ``condition`` (state in other processes, with no event to await) until it holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state lives in other processes
            await asyncio.sleep(0.02)


class Workers:
    """Worker processes of the ``work`` model on ``backend``; one that crashes (nonzero
    exit, as after ``kill -9``) is replaced, as a supervisor would."""

    def __init__(self, backend: Backend, log: RunLog) -> None:
        self._backend = backend
        self._env = {
            **os.environ,
            LOG_ENV: str(log.path),
            "SCALESERVE_CLAIM_IDLE_S": "1",
            "SCALESERVE_MAX_DELIVERIES": str(MAX_DELIVERIES),
            "SCALESERVE_STOP_GRACE_S": "20",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        self.running: dict[int, asyncio.subprocess.Process] = {}
        self.exits: dict[int, int] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, count: int = 1) -> None:
        for _ in range(count):
            argv = ["-m", "scaleserve.worker", "--target", str(MODELS), "--model", "work"]
            process = await asyncio.create_subprocess_exec(
                sys.executable, *argv, *self._backend.worker_args(), env=self._env
            )
            self.running[process.pid] = process
            watcher = asyncio.create_task(self._watch(process))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        self.running.pop(process.pid, None)
        self.exits[process.pid] = code
        if code != 0 and not self._closing:
            await self.start()

    def kill(self, pid: int, signum: int = signal.SIGKILL) -> None:
        os.kill(pid, signum)

    async def exited(self, pid: int, timeout_s: float = 30) -> int:
        await eventually(lambda: pid in self.exits, timeout_s)
        return self.exits[pid]

    async def close(self) -> None:
        self._closing = True
        for watcher in list(self._watchers):
            watcher.cancel()  # no replacement starts from here on
        await asyncio.gather(*self._watchers, return_exceptions=True)
        for process in list(self.running.values()):  # a replacement started meanwhile too
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


@pytest.fixture
def run_log(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "runs.log")


@pytest.fixture
async def workers(backend: Backend, run_log: RunLog, spec: ModelSpec) -> AsyncIterator[Workers]:
    pool = Workers(backend, run_log)
    try:
        yield pool
    finally:
        await pool.close()
        await backend.clean([spec.queue_name])
