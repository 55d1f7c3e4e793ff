"""The autoscaling policy, on simulated queues: up fast, down slowly, no flapping, scale to
zero and back; capped by what the machine holds."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from scaleserve import Autoscale
from scaleserve.scale.autoscale import ModelScaler
from scaleserve.scale.capacity import Capacity, GpuAssigner, Needs
from scaleserve.scale.supervisor import WorkerPlan
from scaleserve.types import QueueLoad

TICK_S = 0.25
SERVICE_RATE = 80.0
"""Items per busy second of one simulated worker."""


class SimulatedQueue:
    """A queue fed at a rate, drained by ``workers`` each at ``SERVICE_RATE``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queued = 0.0
        self.arrived = 0.0
        self.completed = 0.0
        self.busy_s = 0.0

    def run(self, arrivals_per_s: float, workers: int, seconds: float = TICK_S) -> QueueLoad:
        self.now += seconds
        self.arrived += arrivals_per_s * seconds
        self.queued += arrivals_per_s * seconds
        capacity = workers * SERVICE_RATE * seconds
        done = min(self.queued, capacity)
        self.queued -= done
        self.completed += done
        self.busy_s += done / SERVICE_RATE
        return QueueLoad(
            self.now, int(self.queued), 0, int(self.arrived), int(self.completed),
            self.busy_s, workers,
        )  # fmt: skip


def drive(scaler: ModelScaler, rates: list[float], workers: int) -> list[int]:
    """The workers over time as the policy decides, one tick per rate."""
    queue, seen = SimulatedQueue(), []
    for rate in rates:
        workers = scaler.decide(queue.run(rate, workers), workers).desired
        seen.append(workers)
    return seen


POLICY = Autoscale(min_workers=1, max_workers=8, target_p95_ms=250, down_stabilization_s=5)


def test_a_load_step_scales_up_at_once_and_down_after_the_window() -> None:
    ticks_per_s = int(1 / TICK_S)
    rates = [40.0] * 8 * ticks_per_s + [400.0] * 10 * ticks_per_s + [40.0] * 12 * ticks_per_s
    seen = drive(ModelScaler(POLICY), rates, workers=1)
    step = 8 * ticks_per_s
    assert seen[step - 1] == 1
    grown = seen[step : step + 4 * ticks_per_s]
    assert max(grown) >= 6  # 400/s needs 400 / (80 x 0.8) = 6.25
    assert grown.index(max(grown)) < 3 * ticks_per_s  # within seconds (smoothed rates)
    drop = step + 10 * ticks_per_s
    assert min(seen[drop : drop + 4 * ticks_per_s]) >= 6  # held through the down window
    assert seen[-1] == 1


def test_a_steady_noisy_load_causes_few_scale_events() -> None:
    noise = random.Random(7)
    rates = [200.0 * noise.uniform(0.85, 1.15) for _ in range(240)]
    seen = drive(ModelScaler(POLICY), rates, workers=1)
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert changes <= 4, seen


def test_a_backlog_target_needs_no_measured_rate() -> None:
    policy = Autoscale(min_workers=1, max_workers=10, target_backlog_per_worker=50)
    scaler = ModelScaler(policy)
    decision = scaler.decide(QueueLoad(1.0, 420, 0, 420, 0, 0.0, 1), current=1)
    assert decision.desired == 9 and "backlog 420" in decision.reason


def test_scale_to_zero_and_back() -> None:
    policy = Autoscale(
        min_workers=0, max_workers=2, target_p95_ms=500, down_stabilization_s=1,
        scale_to_zero_after_s=2,
    )  # fmt: skip
    seen = drive(ModelScaler(policy), [20.0] * 8 + [0.0] * 20 + [5.0], workers=1)
    assert seen[7] >= 1 and 0 in seen[8:28] and seen[-1] >= 1
    cold = ModelScaler(policy)
    waiting = cold.decide(QueueLoad(1.0, 1, 0, 1, 0, 0.0, 0), current=0)
    assert waiting.desired == 1  # a request waits: a worker starts


@pytest.mark.parametrize(
    "fields",
    [
        {"min_workers": 3, "max_workers": 2, "target_p95_ms": 1},
        {"min_workers": 1, "max_workers": 2},
        {"min_workers": 0, "max_workers": 2, "target_p95_ms": 1},
    ],
)
def test_bad_policies_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Autoscale(**fields)  # type: ignore[arg-type]


def test_the_machine_caps_the_workers() -> None:
    machine = Capacity(cpus=2, memory_mb=4000, gpus=("0", "1"))
    held = {"a": (1, Needs(cpus=1, memory_mb=1000)), "b": (0, Needs(cpus=0.25, gpus=1))}
    assert machine.most("b", 8, held) == 2  # two GPUs
    assert machine.most("a", 8, {**held, "b": (2, Needs(cpus=0.25, gpus=1))}) == 1  # cores
    assert machine.most("a", 3, {"a": (1, Needs(cpus=0.1, memory_mb=1500))}) == 2  # memory


def test_each_gpu_worker_gets_its_own_devices() -> None:
    gpus = GpuAssigner(("0", "1", "2"), {"big": 2, "small": 1, "cpu": 0})
    plan = WorkerPlan("big", 0, ("python",), {})
    assert gpus.env(plan) == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert gpus.env(plan.at(1)) == {"CUDA_VISIBLE_DEVICES": "2"}  # what is left
    assert gpus.env(WorkerPlan("cpu", 0, ("python",), {})) == {"CUDA_VISIBLE_DEVICES": ""}
    gpus.release("big", 0)
    assert gpus.env(WorkerPlan("small", 0, ("python",), {})) == {"CUDA_VISIBLE_DEVICES": "0"}


def test_only_the_scale_to_zero_timer_takes_the_last_worker_away() -> None:
    """One request served, too few batches for a service rate: the worker stays until no
    request came for ``scale_to_zero_after_s``, not only for the down window."""
    policy = Autoscale(
        min_workers=0, max_workers=2, target_p95_ms=500, down_stabilization_s=0.5,
        scale_to_zero_after_s=2,
    )  # fmt: skip
    scaler = ModelScaler(policy, max_batch_size=4)
    assert scaler.decide(QueueLoad(0.0, 0, 0, 0, 0, 0.0, 0), current=0).desired == 0  # asleep
    assert scaler.decide(QueueLoad(0.25, 1, 0, 1, 0, 0.0, 0), current=0).desired == 1
    served = ((1, 0.05),)
    seen = [
        scaler.decide(QueueLoad(0.25 * tick, 0, 0, 1, 1, 0.05, 1, served), current=1).desired
        for tick in range(2, 14)
    ]
    assert seen[:5] == [1] * 5  # idle for under 2 s: kept
    assert seen[-1] == 0
