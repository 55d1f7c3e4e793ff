"""The broker the gateway's routes use: a registry model's requests go to the lane (the
version's own queue and workers) its router picks; other models pass straight through.

During a rollout it tallies each lane's requests, errors and latency for the policy, and
runs the shadow share again on the candidate in the background: the client has the stable
version's answer at once, the comparison comes later, and shadow work is the first thing
shed (skipped while the candidate's queue is a quarter full).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from scaleserve.background import stop_tasks
from scaleserve.errors import Overloaded, ServingError, UnknownModel
from scaleserve.queue.broker import Broker
from scaleserve.registry import ticket
from scaleserve.registry.agreement import Agreement
from scaleserve.registry.router import Pick, Router
from scaleserve.registry.stats import RolloutStats

log = logging.getLogger(__name__)

MAX_SHADOWS_IN_FLIGHT = 256
SHADOW_QUEUE_SHARE = 4
"""Shadow work is skipped while the candidate's queue holds over 1/4 of its bound."""


class RoutedBroker:
    """See ``scaleserve.queue.broker.Broker``; lanes come and go as versions are deployed."""

    def __init__(self, inner: Broker, router: Router, stats: RolloutStats) -> None:
        self.inner = inner
        self.router = router
        self._stats = stats
        self._bounds: dict[str, int] = {}
        self._agreements: dict[str, Agreement] = {}
        self._shadows: set[asyncio.Task[None]] = set()

    def configure_lane(self, lane: str, bound: int) -> None:
        self._bounds[lane] = bound

    def configure_model(self, model: str, agreement: Agreement) -> None:
        self._agreements[model] = agreement

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await stop_tasks(list(self._shadows))

    def version_of(self, model: str) -> str | None:
        """The version answering ``model`` for the request in this context (``None``: not a
        registry model)."""
        if not self.router.serves(model):
            return None
        return self.router.pick(model, ticket.current()).version

    def queue_for(self, model: str, tenant: str) -> tuple[str, int] | None:
        """The lane a job of ``tenant`` for ``model`` goes to and its bound (``None``: not a
        registry model); chosen as for the tenant's requests."""
        if not self.router.serves(model):
            return None
        lane = self.router.pick(model, ticket.of_tenant(tenant)).lane
        return lane, self._bounds.get(lane, 0)

    def describe(self, model: str) -> dict[str, Any] | None:
        """A registry model's versions with their roles, shares and workers, and its
        rollout (``None``: not a registry model)."""
        routes = self.router.routes(model)
        if routes is None:
            return None
        candidate_ready = routes.candidate and self.inner.ready_workers(routes.candidate) > 0
        weight = routes.weight if candidate_ready else 0.0

        def card(lane: str, version: str) -> dict[str, Any]:
            role, share = "retiring", 0.0
            if lane == routes.stable:
                role, share = "stable", 100.0 - weight
            elif lane == routes.candidate:
                role, share = "candidate", weight
            ready = self.inner.ready_workers(lane)
            return {"version": version, "role": role, "weight": share, "ready_workers": ready}

        rollout = None
        if routes.candidate is not None:
            rollout = {
                "candidate": routes.versions[routes.candidate],
                "weight": routes.weight,
                "shadow": routes.shadow,
                "sticky": routes.sticky,
            }
        return {
            "version": routes.versions[routes.stable],
            "versions": [card(lane, version) for lane, version in routes.versions.items()],
            "rollout": rollout,
        }

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        if not self.router.serves(model):
            return await self.inner.submit(model, payloads, timeout_s)
        pick = self.router.pick(model, ticket.current())
        try:
            outputs = await self._timed(model, pick.lane, payloads, timeout_s)
        except UnknownModel:  # its lane retired between the pick and the queue: pick again
            pick = self._repick(model)
            outputs = await self._timed(model, pick.lane, payloads, timeout_s)
        if pick.shadow_lane is not None:
            self._shadow(model, pick.shadow_lane, payloads, outputs, timeout_s)
        return outputs

    async def stream(
        self, model: str, payload: bytes, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        lane = model
        if self.router.serves(model):
            lane = self.router.pick(model, ticket.current()).lane
        async for chunk in self.inner.stream(lane, payload, timeout_s):
            yield chunk

    def depth(self, model: str) -> int:
        lanes = self._lanes(model)
        if len(lanes) == 1:  # the predict route asks on every request: no generator
            return self.inner.depth(lanes[0])
        return sum(self.inner.depth(lane) for lane in lanes)

    def queued(self, model: str) -> int:
        return sum(self.inner.queued(lane) for lane in self._lanes(model))

    def ready_workers(self, model: str) -> int:
        lanes = self._lanes(model)
        if len(lanes) == 1:
            return self.inner.ready_workers(lanes[0])
        return sum(self.inner.ready_workers(lane) for lane in lanes)

    def _repick(self, model: str) -> Pick:
        scope = ticket.current()
        if scope is not None:
            ticket.choose(scope, model, None)
        return self.router.pick(model, scope)

    def _lanes(self, model: str) -> tuple[str, ...]:
        routes = self.router.routes(model)
        return routes.lanes if routes is not None else (model,)

    async def _timed(
        self, model: str, lane: str, payloads: list[bytes], timeout_s: float
    ) -> list[bytes]:
        window = self._window(model)
        if not window:  # no rollout: nothing to tally
            return await self.inner.submit(lane, payloads, timeout_s)
        started = time.perf_counter()
        try:
            outputs = await self.inner.submit(lane, payloads, timeout_s)
        except Overloaded:
            raise  # refused before it ran: says nothing about the version
        except ServingError:
            self._stats.record(model, window, lane, time.perf_counter() - started, ok=False)
            raise
        self._stats.record(model, window, lane, time.perf_counter() - started, ok=True)
        return outputs

    def _window(self, model: str) -> str:
        routes = self.router.routes(model)
        return routes.window if routes is not None else ""

    def _shadow(
        self, model: str, lane: str, payloads: list[bytes], primary: list[bytes], timeout_s: float
    ) -> None:
        bound = self._bounds.get(lane, 0)
        crowded = self.inner.depth(lane) * SHADOW_QUEUE_SHARE >= bound
        if crowded or len(self._shadows) >= MAX_SHADOWS_IN_FLIGHT:
            return
        task = asyncio.create_task(self._run_shadow(model, lane, payloads, primary, timeout_s))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _run_shadow(
        self, model: str, lane: str, payloads: list[bytes], primary: list[bytes], timeout_s: float
    ) -> None:
        window = self._window(model)
        try:
            outputs = await self._timed(model, lane, payloads, timeout_s)
        except ServingError:
            return
        except Exception:  # a shadow must never take anything down with it
            log.exception("shadow request to %s failed unexpectedly", lane)
            return
        agree = self._agreements.get(model, _same)
        for ours, theirs in zip(primary, outputs, strict=True):
            self._stats.record_agreement(model, window, _safe(agree, ours, theirs))


def _same(a: bytes, b: bytes) -> bool:
    return a == b


def _safe(agree: Callable[[bytes, bytes], bool], a: bytes, b: bytes) -> bool:
    try:
        return agree(a, b)
    except Exception:  # a comparison that cannot read an output counts as disagreement
        return False
