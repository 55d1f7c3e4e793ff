"""Makes this process serve what the registry says, for the registry models it serves.

For each model it keeps one lane per version that serves (stable, a rollout's candidate, a
pending swap's target): the version's code is fetched and its class loaded for its types
and settings, the broker gets a queue for it, and where this process runs workers
(``scaleserve serve``, ``scaleserve worker``) a pool starts from the version's artifact. It
follows every change of a model's state (``RegistryStore.watch``), sets the router's
routes, lets the ``Controller`` complete swaps and judge rollouts, and retires a lane once
no request is routed to it and its queue is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from scaleserve.background import stop_tasks
from scaleserve.errors import ConfigError, ScaleserveError, UnknownModel
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker
from scaleserve.registry.agreement import agreement_of
from scaleserve.registry.code import lane_name, version_spec
from scaleserve.registry.opening import OpenRegistry
from scaleserve.registry.records import ModelState
from scaleserve.registry.routed_broker import RoutedBroker
from scaleserve.registry.router import Routes
from scaleserve.registry.settings import RegistrySettings
from scaleserve.registry.stats import RolloutStats
from scaleserve.scale.controller import Controller, LaneHealth
from scaleserve.scale.pools import LanePools

log = logging.getLogger(__name__)

RETIRE_GRACE_S = 2.0
"""A lane no request is routed to keeps its workers this long at least, for requests that
chose it just before (a cache lookup, another gateway that has not heard yet)."""


class LaneBroker(Broker, Protocol):
    """A broker with a queue per version (lane) of registry models."""

    async def add_lane(self, spec: ModelSpec) -> None: ...

    def remove_lane(self, name: str) -> None: ...


@dataclass
class Lane:
    name: str
    version: str
    spec: ModelSpec | None = None
    failure: str | None = None
    """Why the lane cannot serve (its code, artifact or types were refused)."""
    retiring_since: float | None = None


class Deployer:
    def __init__(
        self,
        opened: OpenRegistry,
        models: Sequence[str],
        settings: RegistrySettings,
        *,
        lanes: LaneBroker,
        routed: RoutedBroker | None = None,
        stats: RolloutStats | None = None,
        pools: LanePools | None = None,
        workers: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = opened.registry
        self._artifacts = opened.artifacts
        self._models = list(models)
        self._settings = settings
        self._broker = lanes
        self._routed = routed
        self._pools = pools
        self._workers = workers
        self._clock = clock
        self._states: dict[str, ModelState] = {}
        self._lanes: dict[str, dict[str, Lane]] = {m: {} for m in self._models}
        self._public: dict[str, ModelSpec] = {}
        self._locks = {m: asyncio.Lock() for m in self._models}
        self._tasks: list[asyncio.Task[None]] = []
        self._controller = None
        if routed is not None and stats is not None:
            self._controller = Controller(
                opened.registry, stats, self._health, clock, settings.warm_timeout_s
            )

    async def open(self) -> list[ModelSpec]:
        """Prepare each model's lanes as its state has them; its public spec (the stable
        version's: the types every version of it must share)."""
        for model in self._models:
            try:
                state = await self._registry.state(model)
            except UnknownModel:
                raise ConfigError(f"the registry has no model {model!r}") from None
            if not state.serving_versions():
                raise ConfigError(f"model {model!r} has no production version to serve")
            await self._apply(state)
            first = self._lanes[model][lane_name(model, state.serving_versions()[0])]
            if first.spec is None:
                raise ConfigError(f"model {model!r} cannot be served: {first.failure}")
            self._public[model] = dataclasses.replace(first.spec, lane="", target="")
            await self._apply(state)  # routes need the public spec's agreement
        return [self._public[m] for m in self._models]

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow()),
            asyncio.create_task(self._tick_forever()),
        ]

    async def close(self) -> None:
        await stop_tasks(self._tasks)

    def lanes(self, model: str) -> list[Lane]:
        return list(self._lanes.get(model, {}).values())

    async def _follow(self) -> None:
        async for changed in self._registry.store.watch():
            for model in changed & set(self._models):
                with _logged(model):
                    await self._apply(await self._registry.store.state(model))

    async def _tick_forever(self) -> None:
        while True:
            for model in self._models:
                with _logged(model):
                    await self._tick(model)
            await asyncio.sleep(self._settings.tick_s)

    async def _tick(self, model: str) -> None:
        state = self._states.get(model)
        if state is None:
            return
        if self._controller is not None:
            windows = {model: _window(state)}
            decided = await self._controller.decide(state, windows)
            if decided is not None:
                await self._apply(decided)
        await self._retire_drained(model)

    async def _apply(self, state: ModelState) -> None:
        """Make lanes and routes match ``state`` (a newer one than seen, or the same)."""
        async with self._locks[state.model]:
            seen = self._states.get(state.model)
            if seen is not None and seen.revision > state.revision:
                return
            self._states[state.model] = state
            lanes = self._lanes[state.model]
            wanted = {lane_name(state.model, v): v for v in state.serving_versions()}
            for name, version in wanted.items():
                if name not in lanes or lanes[name].retiring_since is not None:
                    lanes[name] = lanes.get(name) or await self._prepare(state.model, version)
                    lanes[name].retiring_since = None
            for name, lane in lanes.items():
                if name not in wanted and lane.retiring_since is None:
                    lane.retiring_since = self._clock()
            self._set_routes(state)

    async def _prepare(self, model: str, version_id: str) -> Lane:
        """A lane for the version: its spec, its queue and (here) its workers; or the
        reason it cannot serve."""
        lane = Lane(lane_name(model, version_id), version_id)
        try:
            version = await self._registry.version(model, version_id)
            code = await self._artifacts.materialize(version.code) if version.code else None
            spec = version_spec(version, code)
            if self._workers is not None:
                spec = spec.with_workers(self._workers)
            self._check_types(model, spec)
            await self._broker.add_lane(spec)
            if self._routed is not None:
                self._routed.configure_lane(lane.name, spec.max_queue_items)
            if self._pools is not None:
                verify = version.allow_pickle  # a pickle loads only while its sha256 matches
                files = version.files
                artifact = (
                    await self._artifacts.materialize(files, verify=verify) if files else None
                )
                self._pools.start(spec, version, artifact, code)
            lane.spec = spec
        except (ScaleserveError, ImportError, SyntaxError) as exc:
            lane.failure = f"version {version_id} cannot serve: {exc}"
            log.warning("model %r: %s", model, lane.failure)
        return lane

    def _check_types(self, model: str, spec: ModelSpec) -> None:
        public = self._public.get(model)
        if public is None:
            return
        if spec.input_adapter.json_schema() != public.input_adapter.json_schema():
            raise ConfigError(
                "its input items differ from the served version's; versions of one model take "
                "the same inputs (register it as another model)"
            )

    def _set_routes(self, state: ModelState) -> None:
        if self._routed is None:
            return
        lanes = self._lanes[state.model]
        versions = {name: lane.version for name, lane in lanes.items() if lane.spec is not None}
        serving = state.stable or (state.swap.to if state.swap else None)
        stable = lane_name(state.model, serving) if serving else ""
        if stable not in versions:
            return  # nothing servable yet; the routes stay as they were
        routes = Routes(state.model, stable, versions)
        rollout = state.rollout
        candidate = lane_name(state.model, rollout.candidate) if rollout else None
        if rollout is not None and candidate in versions:
            step = rollout.current
            routes = dataclasses.replace(
                routes,
                candidate=candidate,
                weight=step.weight,
                shadow=step.shadow,
                sticky=rollout.policy.sticky,
                window=_window(state),
            )
        self._routed.router.set_routes(routes)
        public = self._public.get(state.model)
        if public is not None:
            agreement = getattr(public.model_class, "agreement", "equal")
            self._routed.configure_model(state.model, agreement_of(agreement))

    async def _retire_drained(self, model: str) -> None:
        now = self._clock()
        for name, lane in list(self._lanes[model].items()):
            since = lane.retiring_since
            if since is None or now - since < RETIRE_GRACE_S:
                continue
            if lane.spec is not None and self._broker.depth(name) > 0:
                continue
            if self._pools is not None and lane.spec is not None:
                await self._pools.retire(name)
            async with self._locks[model]:
                if lane.retiring_since is None:  # wanted again meanwhile
                    continue
                self._broker.remove_lane(name)
                del self._lanes[model][name]
                state = self._states.get(model)
                if state is not None:
                    self._set_routes(state)
            log.info("model %r: version %s retired", model, lane.version)

    def _health(self, lane: str) -> LaneHealth:
        model = lane.rpartition("@")[0]
        found = self._lanes.get(model, {}).get(lane)
        failure = found.failure if found is not None else None
        if failure is None and self._pools is not None:
            failure = self._pools.load_failure(lane)
        reported = getattr(self._broker, "lane_failure", None)  # by workers on other hosts
        if failure is None and reported is not None and (why := reported(lane)):
            failure = f"its load() failed: {why}"
        ready = self._broker.ready_workers(lane) if found and found.spec else 0
        return LaneHealth(ready, failure)


def _window(state: ModelState) -> str:
    rollout = state.rollout
    if rollout is None:
        return ""
    return f"{rollout.started_at:.6f}/{rollout.step}/{rollout.step_started_at:.6f}"


@contextlib.contextmanager
def _logged(model: str) -> Iterator[None]:
    """Keep the loop alive through one model's failure (a store briefly unreachable)."""
    try:
        yield
    except Exception:
        log.exception("deployment of model %r: a step failed; retrying", model)
