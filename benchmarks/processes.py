"""The servers under test, each started on a fixed loopback port and always stopped on exit.

``scaleserve_service`` runs ``scaleserve serve`` and yields ``scaleserve.testing.Service``
(its URL, its pid, its workers' pids); ``fastapi_baseline`` runs the hand-written FastAPI
echo under uvicorn.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scaleserve.testing import Service

HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 180.0
# The served numbers measure the path to the model: with the result cache on (the
# embeddings example turns it on), 200 rotating bodies would be answered from memory.
# No memory tier and no Redis URL leaves the cache with no tier, so every item is computed.
SERVICE_ENV = {"SCALESERVE_CACHE_MEMORY_TIER": "off", "SCALESERVE_REDIS_URL": ""}
AUTH_ENV = "BENCH_AUTHORIZATION"
"""The ``Authorization`` header of the service under test: set when it starts, read by the
answer check, the metrics scrapes and wrk's script (processes inherit the environment)."""
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Baseline:
    """The running FastAPI baseline."""

    base_url: str
    pid: int


@contextlib.contextmanager
def scaleserve_service(target: Path, port: int) -> Iterator[Service]:
    """Run ``scaleserve serve target --port port`` until ready, with authentication on (as
    users run it) and a tenant of its own; stop it and its workers on exit."""
    from scaleserve.testing import tenants_command

    data_dir = tempfile.TemporaryDirectory(prefix="bench-data-")
    key = tenants_command("create", "bench", data_dir=data_dir.name)["key"]
    os.environ[AUTH_ENV] = f"Bearer {key}"
    argv = [sys.executable, "-m", "scaleserve", "serve", str(target), "--port", str(port),
            "--admin-port", "0", "--data-dir", data_dir.name]  # fmt: skip
    with (
        data_dir,
        _logged_process(argv, port, "scaleserve", SERVICE_ENV) as (process, log_file),
    ):
        service = Service(process, f"http://127.0.0.1:{port}", log_file)
        try:
            service.wait_ready(READY_TIMEOUT_S)
            yield service
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.stop(timeout_s=STOP_TIMEOUT_S)


@contextlib.contextmanager
def fastapi_baseline(port: int) -> Iterator[Baseline]:
    """Run the FastAPI echo baseline under uvicorn (one process) until it answers."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_baseline:app",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with _logged_process(argv, port, "fastapi") as (process, log_file):
        base_url = f"http://127.0.0.1:{port}"
        _wait_answers(base_url + "/openapi.json", process, log_file)
        yield Baseline(base_url, process.pid)


def check_answer(url: str, item: Any) -> list[Any]:
    """POST one item to a predict ``url``; return the outputs, or raise naming what came back."""
    body = json.dumps({"inputs": [item]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **auth()})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            outputs = json.loads(response.read())["outputs"]
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered {exc.code}: {exc.read()[:500]!r}") from None
    if not isinstance(outputs, list) or len(outputs) != 1:
        raise RuntimeError(f"{url} answered {outputs!r:.200} for one input")
    return outputs


def auth() -> dict[str, str]:
    """The header that authenticates with the service under test (none for the baseline)."""
    value = os.environ.get(AUTH_ENV)
    return {"Authorization": value} if value else {}


@contextlib.contextmanager
def _logged_process(
    argv: list[str],
    port: int,
    name: str,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """Start ``argv`` with its output in a temporary log; terminate it if still running on exit."""
    _check_port_free(port)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            yield process, log_file
        finally:
            _terminate(process)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_answers(url: str, process: subprocess.Popen[bytes], log_file: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            log = Path(log_file.name).read_text(errors="replace")
            raise RuntimeError(f"{url} never answered (exit code {process.poll()}):\n{log}")
        time.sleep(0.05)


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        # Like the servers, ignore connections of an earlier run still in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} is in use; pick another with --port") from None
