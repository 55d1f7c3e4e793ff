"""The autoscaler of one machine: every tick it reads each autoscaled pool's queue, lets the
policy (``scale.autoscale``) decide, caps the decision by what the machine holds, and grows
or drains the pool. Each change is logged with its reason and shown as metrics
(``scaleserve_workers_desired``, ``scaleserve_workers_current``; warm workers are
``scaleserve_workers_ready``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from scaleserve.background import stop_tasks
from scaleserve.model.spec import ModelSpec
from scaleserve.scale.autoscale import Autoscale, ModelScaler
from scaleserve.scale.capacity import Capacity, GpuAssigner, Needs
from scaleserve.scale.supervisor import Supervisor
from scaleserve.types import QueueLoad

log = logging.getLogger(__name__)

TICK_S = 0.25


@dataclass
class _Pool:
    scaler: ModelScaler
    needs: Needs
    desired: int
    resizing: asyncio.Task[None] | None = None


class Autoscaler:
    def __init__(
        self,
        supervisor: Supervisor,
        load: Callable[[str], QueueLoad],
        capacity: Capacity,
        *,
        drain_timeout_s: float,
        gpus: GpuAssigner | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self._supervisor = supervisor
        self._load = load
        self._capacity = capacity
        self._drain_timeout_s = drain_timeout_s
        self._gpus = gpus
        self._tick_s = tick_s
        self._pools: dict[str, _Pool] = {}
        self._fixed_needs: dict[str, Needs] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, pool: str, policy: Autoscale, needs: Needs, max_batch_size: int = 1) -> None:
        """Scale ``pool`` (a model's queue and its workers) by ``policy`` from now on."""
        current = self._supervisor.count(pool)
        self._pools[pool] = _Pool(ModelScaler(policy, max_batch_size), needs, current)

    def add_fixed(self, pool: str, needs: Needs) -> None:
        """A pool of a fixed size, whose workers take their share of the machine too."""
        self._fixed_needs[pool] = needs

    def remove(self, pool: str) -> None:
        """Stop sizing ``pool`` (and counting its share of the machine)."""
        self._fixed_needs.pop(pool, None)
        found = self._pools.pop(pool, None)
        if found is not None and found.resizing is not None:
            found.resizing.cancel()

    def gauges(self) -> dict[str, dict[str, float]]:
        """``{pool: {"workers_desired", "workers_current"}}`` for ``/metrics``."""
        return {
            name: {
                "workers_desired": pool.desired,
                "workers_current": self._supervisor.count(name),
            }
            for name, pool in self._pools.items()
        }

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        tasks = [p.resizing for p in self._pools.values() if p.resizing is not None]
        if self._task is not None:
            tasks.append(self._task)
        await stop_tasks(tasks)

    async def _run(self) -> None:
        while True:
            for name in list(self._pools):
                with contextlib.suppress(KeyError):  # a pool removed meanwhile
                    self.tick(name)
            await asyncio.sleep(self._tick_s)

    def tick(self, name: str) -> None:
        """Decide for one pool now, and start resizing it if the decision changed."""
        pool = self._pools[name]
        if pool.resizing is not None and not pool.resizing.done():
            return  # a drain in progress finishes first
        current = self._supervisor.count(name)
        decision = pool.scaler.decide(self._load(name), current)
        desired = self._fit(name, decision.desired, current)
        pool.desired = desired
        if desired == current:
            return
        capped = "" if desired == decision.desired else f" (the machine holds {desired})"
        log.info(
            "autoscale %s: %d -> %d workers: %s%s",
            name, current, decision.desired, decision.reason, capped,
        )  # fmt: skip
        pool.resizing = asyncio.create_task(self._resize(name, current, desired))

    def _fit(self, name: str, desired: int, current: int) -> int:
        if desired <= current:
            return desired
        held = {n: (self._supervisor.count(n), p.needs) for n, p in self._pools.items()}
        held.update(self._fixed())
        return max(current, self._capacity.most(name, desired, held))

    def _fixed(self) -> dict[str, tuple[int, Needs]]:
        """Workers of pools that are not autoscaled take their share of the machine too."""
        return {
            model: (self._supervisor.count(model), needs)
            for model, needs in self._fixed_needs.items()
            if model not in self._pools
        }

    async def _resize(self, name: str, current: int, desired: int) -> None:
        await self._supervisor.resize(name, desired, self._drain_timeout_s)
        if self._gpus is not None:
            for slot in range(desired, current):
                self._gpus.release(name, slot)


def gpu_assigner(specs: list[ModelSpec], capacity: Capacity) -> GpuAssigner | None:
    """Devices for the workers that need GPUs, on a machine that has them."""
    if not capacity.gpus:
        return None
    return GpuAssigner(capacity.gpus, {spec.queue_name: spec.worker_gpus for spec in specs})


def local_autoscaler(
    specs: list[ModelSpec],
    supervisor: Supervisor,
    broker: object,
    capacity: Capacity,
    *,
    drain_timeout_s: float,
    gpus: GpuAssigner | None = None,
    lanes: bool = False,
) -> Autoscaler | None:
    """The autoscaler of the targets' autoscaled models on this machine's queue (embedded,
    RabbitMQ or NATS), and of registry versions' lanes where ``lanes`` may come (``None``:
    nothing to scale, or the queue is Redis, which KEDA scales on Kubernetes)."""
    inner = getattr(broker, "inner", broker)
    load = getattr(inner, "load", None)
    if load is None or not (lanes or any(spec.autoscale for spec in specs)):
        return None
    scaler = Autoscaler(supervisor, load, capacity, drain_timeout_s=drain_timeout_s, gpus=gpus)
    for spec in specs:
        if spec.autoscale is not None:
            scaler.add(spec.queue_name, spec.autoscale, Needs.of(spec), spec.max_batch_size)
        else:
            scaler.add_fixed(spec.queue_name, Needs.of(spec))
    return scaler
