"""The decisions a deployment makes by itself: complete a swap once its version is warm or
refuse it when the version cannot load; judge each rollout step by its gates and advance,
promote or roll back. Every decision is committed against the state it was made from (so of
several gateways making it, one records it) with its reason and numbers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scaleserve.errors import Conflict
from scaleserve.registry import deploy
from scaleserve.registry.code import lane_name
from scaleserve.registry.policy import judge
from scaleserve.registry.records import ModelState, Rollout, Swap
from scaleserve.registry.registry import Registry
from scaleserve.registry.stats import RolloutStats

log = logging.getLogger(__name__)


@dataclass
class LaneHealth:
    """What the controller knows of a lane: warm workers, or why it cannot serve."""

    ready_workers: int
    failure: str | None


Health = Callable[[str], LaneHealth]


class Controller:
    def __init__(
        self,
        registry: Registry,
        stats: RolloutStats,
        health: Health,
        clock: Callable[[], float],
        warm_timeout_s: float,
    ) -> None:
        self._registry = registry
        self._stats = stats
        self._health = health
        self._clock = clock
        self._warm_timeout_s = warm_timeout_s

    async def decide(self, state: ModelState, windows: Mapping[str, str]) -> ModelState | None:
        """Commit what ``state`` calls for now; the new state, or ``None`` if nothing changed
        (or another gateway decided first)."""
        change = await self._change(state, windows)
        if change is None:
            return None
        try:
            committed = await self._registry.apply(change)
        except Conflict:
            return None  # someone else moved it: the next state is read afresh
        for event in change[1]:
            log.info("model %r: %s: %s", state.model, event.action, event.reason)
        return committed

    async def _change(self, state: ModelState, windows: Mapping[str, str]) -> deploy.Change | None:
        if state.swap is not None:
            return self._swap(state, state.swap)
        if state.rollout is None or state.rollout.paused or state.stable is None:
            return None
        window = windows.get(state.model, "")
        return await self._judge(state, state.rollout, state.stable, window)

    def _swap(self, state: ModelState, swap: Swap) -> deploy.Change | None:
        """Complete the swap once its version is warm; refuse it if it cannot get warm."""
        now = self._clock()
        health = self._health(lane_name(state.model, swap.to))
        waited_s = now - swap.requested_at
        if health.ready_workers > 0:
            return deploy.complete_swap(state, now, {"warm_after_s": round(waited_s, 2)})
        if health.failure is not None:
            return deploy.refuse_swap(state, now, health.failure)
        if waited_s > self._warm_timeout_s:
            why = f"no warm worker within {self._warm_timeout_s:g}s"
            return deploy.refuse_swap(state, now, why)
        return None

    async def _judge(
        self, state: ModelState, rollout: Rollout, stable_version: str, window: str
    ) -> deploy.Change | None:
        """Roll back on a breach or a candidate that cannot load; advance a step that held."""
        now = self._clock()
        candidate = lane_name(state.model, rollout.candidate)
        failure = self._health(candidate).failure
        if failure is not None:
            return deploy.rollback(state, "policy", now, f"candidate {failure}")
        stable = lane_name(state.model, stable_version)
        tally = await self._stats.read(state.model, window)
        verdict = judge(rollout, tally, stable, candidate, now)
        if verdict.action == "rollback":
            return deploy.rollback(state, "policy", now, verdict.reason, verdict.numbers)
        if verdict.action == "advance":
            return deploy.advance(state, now, verdict.reason, verdict.numbers)
        return None
