"""Several hosts on one machine, for tests and benchmarks of what crosses a network.

``HostLab`` makes Linux network namespaces joined by veth pairs to a bridge: each host has
its own address and its own loopback, and processes started on it (``Host.start``) see only
its network. A host can be cut off (its link down, as a network partition) or killed (every
process in it, as a machine that dies). Needs root (``CAP_NET_ADMIN``) and iproute2;
``HostLab.available()`` says whether this machine can.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

IP = "/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else "ip"
"""iproute2's ``ip``."""


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True)  # noqa: S603


@dataclass
class Host:
    name: str
    address: str
    namespace: str
    link: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def start(
        self, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Run ``argv`` on this host (its output in a log file)."""
        log = tempfile.NamedTemporaryFile(prefix=f"host-{self.name}-", suffix=".log")  # noqa: SIM115
        command = [IP, "netns", "exec", self.namespace, *argv]
        process = subprocess.Popen(  # noqa: S603 - our own command lines
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        self.processes.append(process)
        self.logs.append(log)
        return process

    def log_text(self) -> str:
        return "\n".join(Path(log.name).read_text(errors="replace") for log in self.logs)

    def cut(self) -> None:
        """Take the host off the network (its link down): a partition."""
        _ip("link", "set", self.link, "down")

    def kill(self) -> None:
        """Kill every process of the host at once: a machine that dies."""
        argv = [IP, "netns", "pids", self.namespace]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        for pid in done.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for process in self.processes:
            process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.kill()
        for log in self.logs:
            log.close()


class HostLab:
    """Hosts on a bridge ``10.X.0.0/24``; this machine itself is ``10.X.0.1``."""

    def __init__(self, subnet: int | None = None) -> None:
        self._id = secrets.token_hex(3)
        self.subnet = subnet if subnet is not None else 100 + secrets.randbelow(100)
        self.bridge = f"ssb{self._id}"
        self.hosts: list[Host] = []

    @property
    def gateway_address(self) -> str:
        return f"10.{self.subnet}.0.1"

    @staticmethod
    def available() -> str | None:
        """Why this machine cannot build hosts (``None``: it can)."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        probe = f"ssprobe{secrets.token_hex(3)}"
        try:
            _ip("netns", "add", probe)
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"cannot create a network namespace: {exc}"
        _ip("netns", "del", probe)
        return None

    def __enter__(self) -> HostLab:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def __exit__(self, *exc_info: object) -> None:
        for host in self.hosts:
            host.stop()
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", host.namespace)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.bridge)

    def add_redis(self, name: str = "redis") -> tuple[Host, str]:
        """A host running a Redis that keeps nothing on disk, and its URL (it may still be
        starting: callers retry their first command)."""
        host = self.add(name)
        host.start(
            ["redis-server", "--port", "6379", "--bind", host.address, "--save", "",
             "--appendonly", "no", "--protected-mode", "no"]
        )  # fmt: skip
        return host, f"redis://{host.address}:6379/0"

    def add(self, name: str) -> Host:
        """A new host on the bridge, with its own address."""
        index = len(self.hosts) + 2
        namespace = f"ss{self._id}{name}"[:15]
        outside, inside = f"ss{self._id}o{index}", f"ss{self._id}i{index}"
        address = f"10.{self.subnet}.0.{index}"
        _ip("netns", "add", namespace)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{address}/24", "dev", inside)
        _ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
        _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        host = Host(name, address, namespace, outside)
        self.hosts.append(host)
        return host


@contextlib.contextmanager
def host_lab() -> Iterator[HostLab]:
    with HostLab() as lab:
        yield lab
