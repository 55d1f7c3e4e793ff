"""Test doubles and helpers that scaleserve ships for its users' tests (and its own).

``running_service`` starts a real ``scaleserve serve`` process on a free port and waits
until it is ready; the ``Service`` it yields knows its URL and its worker processes. With
``auth=True`` it first creates, with ``scaleserve tenants``, a tenant ``default`` and an
admin key, which the ``Service`` carries (``headers``, ``admin_headers``); otherwise the
service runs with ``--no-auth`` on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaleserve.registry.registry import Registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running ``scaleserve serve`` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_file: IO[bytes]
    admin_url: str = ""
    api_key: str | None = None
    """The key of tenant ``default`` (``None``: the service runs without authentication)."""
    admin_key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as tenant ``default`` (none without authentication)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"} if self.admin_key else {}

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")

    def worker_pids(self, model: str | None = None) -> list[int]:
        """Pids of the live worker processes (of ``model``, if given)."""
        import psutil

        pids = []
        for child in psutil.Process(self.pid).children():
            with contextlib.suppress(psutil.Error):
                argv = child.cmdline()
                if "scaleserve.worker" in argv and (
                    model is None or _flag(argv, "--model") == model
                ):
                    pids.append(child.pid)
        return pids

    def ready(self) -> bool:
        try:
            url = self.base_url + "/readyz"  # always http://127.0.0.1:<port>
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll ``/readyz`` until 200; raise with the service's log if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not ready after {timeout_s}s:\n{self.logs()}")
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Signal the service and wait for it to exit; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


Target = str | os.PathLike[str]
"""A ``scaleserve serve`` target: a directory, a ``.py`` file or a module (``:Class``)."""


def _target_args(target: Target | Sequence[Target]) -> list[str]:
    if isinstance(target, str | os.PathLike):
        return [str(target)]
    return [str(one) for one in target]


@contextlib.contextmanager
def running_service(
    target: Target | Sequence[Target],
    *,
    workers: int | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 120.0,
    command: str = "serve",
    auth: bool = False,
    provision: bool = True,
) -> Iterator[Service]:
    """Start ``scaleserve serve target`` (or ``api``) on a free loopback port; stop it on exit.
    ``target`` may be several targets, served together.

    With ``auth`` (and ``provision``), a tenant ``default`` and an admin key are made first
    and the ``Service`` carries them; without ``provision`` the service starts as a user's
    would (printing its first keys itself).

    Unless ``args`` name a ``--data-dir``, the service keeps its jobs and tenants in a fresh
    temporary directory, so tests never see each other's.
    """
    port, admin_port = free_port(), free_port()
    argv = [sys.executable, "-m", "scaleserve", command, *_target_args(target), "--port", str(port),
            "--admin-port", str(admin_port), *args]  # fmt: skip
    scratch = None
    if command in ("serve", "api") and "--data-dir" not in args:
        scratch = tempfile.TemporaryDirectory(prefix="scaleserve-data-")
        argv += ["--data-dir", scratch.name]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if not auth:
        argv.append("--no-auth")
    try:
        keys = _provision_keys(argv, env) if auth and provision else (None, None)
        with _process(argv, env, f"http://127.0.0.1:{port}") as service:
            service.admin_url = f"http://127.0.0.1:{admin_port}"
            service.api_key, service.admin_key = keys
            service.wait_ready(ready_timeout_s)
            yield service
    finally:
        if scratch is not None:
            scratch.cleanup()


def tenants_command(
    *args: str, env: dict[str, str] | None = None, data_dir: str | None = None
) -> Any:
    """Run ``scaleserve tenants ARGS`` and return what it printed (JSON)."""
    where = ["--data-dir", data_dir] if data_dir else []
    argv = [sys.executable, "-m", "scaleserve", "tenants", *where, *args]
    done = subprocess.run(  # noqa: S603 - this interpreter and our own CLI
        argv, capture_output=True, env={**os.environ, **(env or {})}, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scaleserve tenants {' '.join(args)} failed: {done.stderr.decode()}")
    return json.loads(done.stdout)


def _provision_keys(argv: list[str], env: dict[str, str] | None) -> tuple[str, str]:
    """A ``default`` tenant key and an admin key in the store the service will use."""
    data_dir = _flag(argv, "--data-dir")
    created = tenants_command("create", "default", env=env, data_dir=data_dir)
    admin = tenants_command("admin-key", env=env, data_dir=data_dir)
    return created["key"], admin["key"]


@contextlib.contextmanager
def running_workers(
    target: Target | Sequence[Target],
    *,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Service]:
    """Start ``scaleserve worker target`` (workers only, on Redis, RabbitMQ or NATS); stop
    it on exit.

    The ``Service`` it yields has no URL; its ``worker_pids`` are the live workers.
    """
    argv = [sys.executable, "-m", "scaleserve", "worker", *_target_args(target), *args]
    with _process(argv, env, base_url="") as workers:
        yield workers


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str] | None, base_url: str) -> Iterator[Service]:
    """Run ``argv`` with its output in a log file; SIGTERM it (then wait) on exit."""
    log_file = tempfile.NamedTemporaryFile(prefix="scaleserve-test-", suffix=".log")  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - argv is this interpreter and our own CLI
        argv,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    service = Service(process, base_url, log_file)
    try:
        yield service
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.stop()
        log_file.close()


def _flag(argv: list[str], name: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return argv[argv.index(name) + 1]
    return None


@contextlib.asynccontextmanager
async def embedded_registry(data_dir: str | os.PathLike[str]) -> AsyncIterator[Registry]:
    """The model registry that ``scaleserve serve --data-dir data_dir`` uses (the embedded
    default), open in this process: register versions before (or while) it serves them."""
    from scaleserve.registry.backends.local_blobs import LocalBlobStore
    from scaleserve.registry.backends.sqlite import SqliteRegistryStore
    from scaleserve.registry.registry import Registry

    folder = Path(data_dir)
    store = SqliteRegistryStore(folder / "registry.sqlite3")
    await store.open()
    try:
        yield Registry(store, LocalBlobStore(folder / "artifacts"))
    finally:
        await store.close()
