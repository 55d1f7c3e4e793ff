"""The supervisor: keeps each planned worker process running until told to stop.

A worker that exits is started again after a backoff that grows while it keeps failing
soon after start, and resets once it has stayed up. ``stop()`` asks every worker to drain
(SIGTERM), waits, then kills what is left. Pools come and go while it runs (``add`` and
``retire``: one pool per version of a registry model).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scaleserve.background import stop_tasks
from scaleserve.observe import metrics
from scaleserve.worker.orphan import SUPERVISOR_PID_ENV

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerPlan:
    """One worker process to keep running; it is started as ``argv --slot SLOT``."""

    model: str
    slot: int
    argv: tuple[str, ...]
    env: dict[str, str]

    def at(self, slot: int) -> WorkerPlan:
        return dataclasses.replace(self, slot=slot)


@dataclass(frozen=True)
class Pool:
    """A model's workers: how to start one (its template), and how many to start with."""

    template: WorkerPlan
    workers: int

    def plans(self) -> list[WorkerPlan]:
        return [self.template.at(slot) for slot in range(self.workers)]


SlotEnv = Callable[[WorkerPlan], dict[str, str]]
"""Environment a worker gets for its slot beside its plan's (its GPUs)."""


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 0.1
    max_delay_s: float = 10.0
    stable_after_s: float = 30.0
    """A worker up this long is healthy again: its next restart is fast."""

    def delay_s(self, quick_failures: int) -> float:
        growth: float = 2.0 ** max(0, quick_failures - 1)
        return min(self.max_delay_s, self.first_delay_s * growth)


class Supervisor:
    """Runs one task per ``WorkerPlan`` that restarts its process whenever it exits."""

    def __init__(
        self,
        pools: Sequence[Pool] = (),
        policy: RestartPolicy | None = None,
        on_exit: Callable[[int], None] = metrics.forget_process,
        slot_env: SlotEnv | None = None,
    ) -> None:
        self._plans = [plan for pool in pools for plan in pool.plans()]
        self._templates = {pool.template.model: pool.template for pool in pools}
        self._slot_env = slot_env
        self._policy = policy or RestartPolicy()
        self._on_exit = on_exit
        self._procs: dict[tuple[str, int], asyncio.subprocess.Process] = {}
        self._quick_failures: dict[str, int] = {}
        self._last_exit: dict[str, int] = {}
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._retiring: set[str] = set()
        self._stopped: set[tuple[str, int]] = set()
        self._started = False
        self._stopping = False

    def pids(self, model: str | None = None) -> list[int]:
        return [p.pid for (m, _), p in self._procs.items() if model in (None, m)]

    def is_failing(self, model: str) -> bool:
        """True while every recent start of this model's workers died soon after."""
        return self._quick_failures.get(model, 0) >= 2

    def last_exit(self, model: str) -> int | None:
        """The exit code of the model's worker that exited last (``None``: none has)."""
        return self._last_exit.get(model)

    def models(self) -> set[str]:
        return {plan.model for plan in self._plans}

    async def start(self) -> None:
        self._started = True
        for plan in self._plans:
            self._launch(plan)

    def add(self, plans: list[WorkerPlan]) -> None:
        """Keep these workers running too (a new version's pool)."""
        for plan in plans:
            self._retiring.discard(plan.model)
            self._templates.setdefault(plan.model, plan)
            self._plans.append(plan)
            if self._started:
                self._launch(plan)

    def add_pool(self, pool: Pool) -> None:
        """Run this pool too (a new version's)."""
        self._templates[pool.template.model] = pool.template
        self.add(pool.plans())

    def count(self, model: str) -> int:
        """Workers of ``model`` kept running now."""
        return sum(1 for plan in self._plans if plan.model == model)

    async def resize(self, model: str, workers: int, timeout_s: float) -> None:
        """Keep ``workers`` workers of ``model``: start more from its template, or drain
        and stop the last ones."""
        slots = sorted(plan.slot for plan in self._plans if plan.model == model)
        if workers > len(slots):
            template = self._templates[model]
            free = (slot for slot in range(workers * 2 + len(slots)) if slot not in slots)
            self.add([template.at(next(free)) for _ in range(workers - len(slots))])
        for slot in reversed(slots[workers:]):
            await self._retire_keys([(model, slot)], timeout_s)

    async def retire(self, model: str, timeout_s: float) -> None:
        """Drain and stop every worker of ``model`` (SIGTERM, then SIGKILL after
        ``timeout_s``); they are not restarted."""
        self._retiring.add(model)
        await self._retire_keys([key for key in self._tasks if key[0] == model], timeout_s)
        self._quick_failures.pop(model, None)

    async def _retire_keys(self, keys: list[tuple[str, int]], timeout_s: float) -> None:
        """Drain and stop the workers at ``keys`` for good."""
        self._plans = [plan for plan in self._plans if (plan.model, plan.slot) not in keys]
        self._stopped.update(keys)
        tasks = [self._tasks.pop(key) for key in keys if key in self._tasks]
        for key in keys:  # a worker starting right now is signalled by its task
            if (proc := self._procs.get(key)) is not None:
                _signal(proc, signal.SIGTERM)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for key in keys:
            proc = self._procs.pop(key, None)
            if proc is not None and proc.returncode is None:
                log.warning("worker %d did not drain in %gs; killing it", proc.pid, timeout_s)
                _signal(proc, signal.SIGKILL)
        await stop_tasks(tasks)
        self._stopped.difference_update(keys)

    async def stop(self, timeout_s: float) -> None:
        """SIGTERM every worker, wait up to ``timeout_s`` for them to drain, kill the rest."""
        self._stopping = True
        await _drain(list(self._procs.values()), timeout_s)
        await stop_tasks(list(self._tasks.values()))

    def _launch(self, plan: WorkerPlan) -> None:
        self._tasks[(plan.model, plan.slot)] = asyncio.create_task(self._keep_running(plan))

    async def _keep_running(self, plan: WorkerPlan) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping and not self._told_to_stop(plan):
            env = {**plan.env, SUPERVISOR_PID_ENV: str(os.getpid())}
            if self._slot_env is not None:
                env.update(self._slot_env(plan))
            proc = await asyncio.create_subprocess_exec(
                *plan.argv,
                "--slot",
                str(plan.slot),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            self._procs[(plan.model, plan.slot)] = proc
            if self._stopping or self._told_to_stop(plan):  # told to stop while it started
                _signal(proc, signal.SIGTERM)
            started = loop.time()
            code = await proc.wait()
            self._on_exit(proc.pid)
            self._last_exit[plan.model] = code
            if self._stopping or self._told_to_stop(plan):
                return
            await asyncio.sleep(self._after_exit(plan, code, loop.time() - started))

    def _told_to_stop(self, plan: WorkerPlan) -> bool:
        return plan.model in self._retiring or (plan.model, plan.slot) in self._stopped

    def _after_exit(self, plan: WorkerPlan, code: int, uptime_s: float) -> float:
        """Record an unexpected exit; return how long to wait before the restart."""
        failures = (
            0
            if uptime_s >= self._policy.stable_after_s
            else self._quick_failures.get(plan.model, 0) + 1
        )
        self._quick_failures[plan.model] = failures
        delay = self._policy.delay_s(failures)
        log.error(
            "worker %d of model %r exited with %s after %.1fs; restarting in %.1fs",
            plan.slot,
            plan.model,
            _describe_exit(code),
            uptime_s,
            delay,
        )
        metrics.WORKER_RESTARTS.labels(plan.model).inc()
        return delay


async def _drain(procs: list[asyncio.subprocess.Process], timeout_s: float) -> None:
    """SIGTERM ``procs``, wait up to ``timeout_s`` for them to exit, kill the rest."""
    procs = [p for p in procs if p.returncode is None]
    for proc in procs:
        _signal(proc, signal.SIGTERM)
    waits = [asyncio.create_task(p.wait()) for p in procs]
    if not waits:
        return
    _, late = await asyncio.wait(waits, timeout=timeout_s)
    for proc in procs:
        if proc.returncode is None:
            log.warning("worker %d did not drain in %gs; killing it", proc.pid, timeout_s)
            _signal(proc, signal.SIGKILL)
    await asyncio.gather(*late, return_exceptions=True)


def _signal(proc: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signum)


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
