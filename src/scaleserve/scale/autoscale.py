"""The autoscaling policy: how many workers a model needs for its backlog and arrivals.

One policy for one machine (the supervisor applies it) and for Kubernetes (rendered into
KEDA's settings). A worker's service rate (items per second of its busy time at its largest
batch, read off the curve of its recent batches: ``scale.service_curve``) tells how many
workers clear the backlog within the latency target and keep up with the arrival rate. Up
fast, down slowly: a scale-up takes the lowest recommendation of the up window (none by
default: at once), a scale-down the highest of the down window, so a steady load causes no
flapping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scaleserve.scale.service_curve import ServiceCurve
from scaleserve.types import QueueLoad

UTILIZATION_TARGET = 0.8
"""Workers are sized to be busy this share of the time at the arrival rate (headroom)."""
RATE_SMOOTHING = 0.3
"""Weight of the newest reading in the exponentially smoothed rates."""


class Autoscale(BaseModel):
    """A model's autoscaling (its ``autoscale`` class attribute)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_workers: int = Field(default=1, ge=0, le=256)
    max_workers: int = Field(default=4, ge=1, le=256)
    target_p95_ms: float | None = Field(default=None, gt=0)
    """Latency target: enough workers to clear the backlog within it."""
    target_backlog_per_worker: float | None = Field(default=None, gt=0)
    """Items waiting per worker beyond which another one starts (KEDA's lag target)."""
    up_stabilization_s: float = Field(default=0.0, ge=0)
    down_stabilization_s: float = Field(default=60.0, ge=0)
    scale_to_zero_after_s: float | None = Field(default=None, gt=0)
    """With ``min_workers`` 0: stop the last worker after this long without a request
    (off by default); the next request waits, within its deadline, for a cold start."""

    @model_validator(mode="after")
    def _check(self) -> Autoscale:
        if self.min_workers > self.max_workers:
            raise ValueError("min_workers must not be over max_workers")
        if self.target_p95_ms is None and self.target_backlog_per_worker is None:
            raise ValueError("give target_p95_ms, target_backlog_per_worker or both")
        if self.min_workers == 0 and self.scale_to_zero_after_s is None:
            raise ValueError("min_workers 0 needs scale_to_zero_after_s")
        return self


@dataclass(frozen=True)
class Decision:
    desired: int
    current: int
    reason: str
    recommended: int


@dataclass
class ModelScaler:
    """The policy's state for one model: smoothed rates and recent recommendations."""

    policy: Autoscale
    max_batch_size: int = 1
    arrival_rate: float = 0.0
    service_rate: float | None = None
    """Items per busy second of one worker at its largest batch: read off the service
    curve of its recent batches, else measured at the batches it ran."""
    last: QueueLoad | None = None
    last_request_at: float = 0.0
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, load: QueueLoad, current: int) -> Decision:
        """The workers wanted now, given ``load`` and the ``current`` number."""
        self._measure(load)
        needed, why = self._needed(load, current)
        recommended = max(self.policy.min_workers, min(self.policy.max_workers, needed))
        if recommended == 0 and (load.queued or load.in_flight):
            recommended, why = 1, "requests are waiting for a first worker"
        self.history.append((load.at, recommended))
        window = max(self.policy.up_stabilization_s, self.policy.down_stabilization_s)
        while self.history and self.history[0][0] < load.at - window:
            self.history.popleft()
        desired = self._stabilized(load.at, current, recommended)
        if desired < current and load.warm < current:
            desired = current  # workers still warming up: none is taken away before it is warm
        return Decision(desired, current, why, recommended)

    def _measure(self, load: QueueLoad) -> None:
        if load.queued or load.in_flight or self.last_request_at == 0.0:
            self.last_request_at = load.at
        last, self.last = self.last, load
        if last is None or load.at <= last.at:
            return
        if load.arrived > last.arrived:
            self.last_request_at = load.at
        rate = (load.arrived - last.arrived) / (load.at - last.at)
        self.arrival_rate += RATE_SMOOTHING * (rate - self.arrival_rate)
        if load.batches:  # a queue that reports its batches: trust only their curve
            curve = ServiceCurve.fit(load.batches)
            if curve is not None:
                self.service_rate = curve.items_per_s(self.max_batch_size)
            return
        busy = load.busy_s - last.busy_s
        done = load.completed - last.completed
        if busy > 0 and done > 0:
            measured = done / busy
            if self.service_rate is None:
                self.service_rate = measured
            else:
                self.service_rate += RATE_SMOOTHING * (measured - self.service_rate)

    def _needed(self, load: QueueLoad, current: int) -> tuple[int, str]:
        policy, rate = self.policy, self.service_rate
        reasons: list[tuple[float, str]] = []
        if policy.target_backlog_per_worker is not None:
            count = load.queued / policy.target_backlog_per_worker
            reasons.append(
                (count, f"backlog {load.queued} at {policy.target_backlog_per_worker:g} per worker")
            )
        if rate is not None and rate > 0:
            count = self.arrival_rate / (rate * UTILIZATION_TARGET)
            reasons.append((count, f"arrivals {self.arrival_rate:.1f}/s, {rate:.1f}/s per worker"))
            if policy.target_p95_ms is not None:
                count = load.queued / (rate * policy.target_p95_ms / 1000)
                reasons.append(
                    (count, f"backlog {load.queued} to clear in {policy.target_p95_ms:g} ms")
                )
        elif load.queued > self.max_batch_size * load.warm and policy.target_p95_ms is not None:
            reasons.append(  # more than a full batch per warm worker waits: one more
                (load.warm + 1.0, f"backlog {load.queued}, service rate not measured yet")
            )
        idle_s = load.at - self.last_request_at
        zero_after = policy.scale_to_zero_after_s
        if zero_after is not None and idle_s >= zero_after:
            return 0, f"no request for {idle_s:.0f}s"
        if not reasons or max(count for count, _ in reasons) <= 0:
            # only the scale-to-zero timer takes the last worker away
            return max(policy.min_workers, min(current, 1)), "idle"
        count, why = max(reasons)
        return max(1, math.ceil(count - 1e-9)), why

    def _stabilized(self, now: float, current: int, recommended: int) -> int:
        if recommended > current:
            since = now - self.policy.up_stabilization_s
            return max(current, min(r for at, r in self.history if at >= since))
        if recommended < current:
            since = now - self.policy.down_stabilization_s
            return min(current, max(r for at, r in self.history if at >= since))
        return current
