"""The gateway's routing of registry models: which version (lane) answers a request.

Each served registry model has a ``Routes``: its stable lane, and during a rollout its
candidate with a weight (the share of requests it answers) and a shadow share (requests
also run on it, answered by the stable one). The split is sticky: a caller (tenant, or a
header such as a user id) hashes to a point in [0, 100) and sees the candidate while that
point is below the weight, so raising the weight never moves a caller back. A candidate
without a warm worker answers nothing: its share goes to the stable lane.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from scaleserve.registry import ticket
from scaleserve.registry.ticket import RouteScope

ReadyWorkers = Callable[[str], int]


@dataclass(frozen=True)
class Routes:
    model: str
    stable: str
    """Lane (``model@version``) answering what the candidate does not."""
    versions: Mapping[str, str] = field(default_factory=dict)
    """Lane -> version, for every lane of the model."""
    candidate: str | None = None
    weight: float = 0.0
    shadow: float = 0.0
    sticky: str = "none"
    window: str = ""
    """The rollout step whose tallies requests count in (empty: no rollout)."""

    @functools.cached_property
    def lanes(self) -> tuple[str, ...]:
        return tuple(self.versions)

    @functools.cached_property
    def picks(self) -> dict[str, Pick]:
        """A ``Pick`` of each lane (made once: picking allocates nothing)."""
        return {lane: Pick(lane, version) for lane, version in self.versions.items()}


@dataclass(frozen=True)
class Pick:
    lane: str
    version: str
    shadow_lane: str | None = None


class Router:
    """Chooses a lane per request from each model's ``Routes``, replaced as they change."""

    def __init__(self, ready_workers: ReadyWorkers, rng: random.Random | None = None) -> None:
        self._routes: dict[str, Routes] = {}
        self._ready = ready_workers
        self._rng = rng or random.Random()  # noqa: S311 - a traffic split, not a secret

    def serves(self, model: str) -> bool:
        return model in self._routes

    def routes(self, model: str) -> Routes | None:
        return self._routes.get(model)

    def set_routes(self, routes: Routes) -> None:
        self._routes[routes.model] = routes

    def lanes(self, model: str) -> tuple[str, ...]:
        routes = self._routes.get(model)
        return routes.lanes if routes else ()

    def pick(self, model: str, scope: RouteScope | None) -> Pick:
        """The lane answering ``model`` for this request (the same one for every part of it)."""
        routes = self._routes[model]
        picks = routes.picks
        if scope is not None:
            lane = ticket.chosen(scope, model)
            if lane is not None and lane in picks:
                return picks[lane]
        pick = picks[routes.stable]
        candidate = routes.candidate
        if candidate is not None and self._ready(candidate) > 0:
            if routes.weight > 0 and self._point(routes, scope) < routes.weight:
                pick = picks[candidate]
            elif routes.shadow > 0 and self._rng.random() * 100 < routes.shadow:
                pick = Pick(pick.lane, pick.version, candidate)
        if scope is not None:
            ticket.choose(scope, model, pick.lane)
        return pick

    def _point(self, routes: Routes, scope: RouteScope | None) -> float:
        """Where the caller falls in [0, 100): fixed per caller unless ``sticky`` is none."""
        key = _sticky_key(routes.sticky, scope)
        if key is None:
            return self._rng.random() * 100
        digest = hashlib.blake2b(f"{routes.model}\0{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest) / 2**64 * 100


def _sticky_key(sticky: str, scope: RouteScope | None) -> str | None:
    if scope is None or sticky == "none":
        return None
    if sticky.startswith("header:"):
        return ticket.header(scope, sticky.removeprefix("header:").lower().encode())
    return ticket.tenant(scope) or None
