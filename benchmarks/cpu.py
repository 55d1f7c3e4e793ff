"""Where the CPU went during a measured run: the server, its workers, wrk, and everything else.

On a shared machine a throughput number means little without knowing what else ran;
CPU time per request is steadier, and shows which process a request's cost lands in.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

from procstat import cpu_s, machine_busy_s


@dataclass(frozen=True)
class CpuUse:
    """CPU microseconds per request by process (``None`` when no request finished), and the
    cores busy with other work."""

    server_us_per_req: float | None
    """The gateway (the uvicorn process, for the baseline)."""
    workers_us_per_req: float | None
    wrk_us_per_req: float | None
    others_cores: float
    """Average cores used by processes outside this benchmark during the run."""


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds at one instant; subtract two with ``since``."""

    at_s: float
    machine_busy_s: float
    server_s: float
    workers_s: float
    children_s: float
    own_s: float

    @classmethod
    def take(cls, server_pid: int, worker_pids: Sequence[int]) -> CpuSnapshot:
        return cls(
            at_s=time.monotonic(),
            machine_busy_s=machine_busy_s(),
            server_s=cpu_s(server_pid),
            workers_s=sum(cpu_s(pid) for pid in worker_pids),
            children_s=_rusage_s(resource.RUSAGE_CHILDREN),
            own_s=_rusage_s(resource.RUSAGE_SELF),
        )

    def since(self, earlier: CpuSnapshot, requests: int) -> CpuUse:
        """CPU use between ``earlier`` and this snapshot, over ``requests`` requests."""
        server = self.server_s - earlier.server_s
        workers = self.workers_s - earlier.workers_s
        wrk = self.children_s - earlier.children_s  # wrk is the only child reaped in between
        own = self.own_s - earlier.own_s
        busy = self.machine_busy_s - earlier.machine_busy_s
        return CpuUse(
            server_us_per_req=_per_request_us(server, requests),
            workers_us_per_req=_per_request_us(workers, requests),
            wrk_us_per_req=_per_request_us(wrk, requests),
            others_cores=max(0.0, busy - server - workers - wrk - own) / (self.at_s - earlier.at_s),
        )


def _rusage_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _per_request_us(cpu_s: float, requests: int) -> float | None:
    return cpu_s * 1e6 / requests if requests else None
