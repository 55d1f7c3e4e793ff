"""What this machine holds and what a worker needs: no more workers start than its declared
cores, memory and GPUs hold, and each GPU worker gets its own devices."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scaleserve.model.spec import ModelSpec
from scaleserve.scale.supervisor import WorkerPlan

CUDA_DEVICES_ENV = "CUDA_VISIBLE_DEVICES"


@dataclass(frozen=True)
class Needs:
    cpus: float = 1.0
    memory_mb: int = 0
    gpus: int = 0

    @classmethod
    def of(cls, spec: ModelSpec) -> Needs:
        return cls(spec.worker_cpus, spec.worker_memory_mb, spec.worker_gpus)


@dataclass(frozen=True)
class Capacity:
    """The machine as declared (``SCALESERVE_MACHINE_CPUS``, ``_MEMORY_MB``, ``_GPUS``), by
    default as found."""

    cpus: float
    memory_mb: int
    gpus: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Capacity:
        cpus = float(environ.get("SCALESERVE_MACHINE_CPUS") or os.cpu_count() or 1)
        memory = int(environ.get("SCALESERVE_MACHINE_MEMORY_MB") or _memory_mb())
        declared = environ.get("SCALESERVE_MACHINE_GPUS")
        visible = environ.get(CUDA_DEVICES_ENV, "")
        if declared is not None:
            gpus = tuple(str(i) for i in range(int(declared or 0)))
        else:
            gpus = tuple(d.strip() for d in visible.split(",") if d.strip())
        return cls(cpus, memory, gpus)

    def fits(self, workers: Mapping[str, tuple[int, Needs]]) -> bool:
        """Whether ``{pool: (workers, needs)}`` fit on this machine together."""
        cpus = sum(n * needs.cpus for n, needs in workers.values())
        memory = sum(n * needs.memory_mb for n, needs in workers.values())
        gpus = sum(n * needs.gpus for n, needs in workers.values())
        return cpus <= self.cpus + 1e-9 and memory <= self.memory_mb and gpus <= len(self.gpus)

    def most(self, pool: str, wanted: int, workers: Mapping[str, tuple[int, Needs]]) -> int:
        """The most workers of ``pool`` up to ``wanted`` that fit beside the others."""
        needs = workers[pool][1]
        others = {name: held for name, held in workers.items() if name != pool}
        granted = wanted
        while granted > 0 and not self.fits({**others, pool: (granted, needs)}):
            granted -= 1
        return granted


@dataclass
class GpuAssigner:
    """Gives each worker that needs GPUs devices of its own (``CUDA_VISIBLE_DEVICES``)."""

    devices: tuple[str, ...]
    needs: dict[str, int] = field(default_factory=dict)
    held: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)

    def env(self, plan: WorkerPlan) -> dict[str, str]:
        count = self.needs.get(plan.model, 0)
        if count == 0:
            return {CUDA_DEVICES_ENV: ""} if self.devices else {}  # CPU workers see no GPU
        key = (plan.model, plan.slot)
        if key not in self.held:
            taken = {d for devices in self.held.values() for d in devices}
            free = [d for d in self.devices if d not in taken][:count]
            self.held[key] = tuple(free)
        return {CUDA_DEVICES_ENV: ",".join(self.held[key])}

    def release(self, model: str, slot: int) -> None:
        self.held.pop((model, slot), None)


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1 << 30  # unknown: do not limit by memory
