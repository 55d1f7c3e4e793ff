"""Which version answers a request: chosen once per request, known to whoever asks.

The gateway marks each request's ASGI scope as the one running in its context (with its
tenant; the scope has its headers, for sticky routing). The first part of the request that
needs a registry model's version (the cache key, the queue) has the router choose it and
notes the choice in the scope; every later part of the same request gets the same answer,
and the response names the versions that answered (``X-Model-Version``). A request for a
model with one version pays a dictionary for it, nothing more.
"""

from __future__ import annotations

import contextvars
from collections.abc import MutableMapping, Sequence
from typing import Any

VERSION_HEADER = b"x-model-version"
CHOSEN_KEY = "scaleserve.chosen_lanes"
TENANT_KEY = "scaleserve.tenant"
RouteScope = MutableMapping[str, Any]
"""A request's ASGI scope, or the small mapping a job runs with."""

CURRENT: contextvars.ContextVar[RouteScope | None] = contextvars.ContextVar(
    "scaleserve_route_scope", default=None
)
_VERSION_BYTES: dict[str, bytes] = {}


def enter(scope: RouteScope) -> None:
    """The request running in this context is ``scope``."""
    CURRENT.set(scope)


def current() -> RouteScope | None:
    return CURRENT.get()


def of_tenant(tenant: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> RouteScope:
    """What routes work of ``tenant`` outside a request (a job, a test)."""
    return {TENANT_KEY: tenant, "headers": headers}


def open_ticket(tenant: str) -> None:
    """Work of ``tenant`` runs in this context (a job): route it as the tenant's requests."""
    CURRENT.set(of_tenant(tenant))


def chosen(scope: RouteScope, model: str) -> str | None:
    """The lane already chosen for ``model`` in this request."""
    lanes = scope.get(CHOSEN_KEY)
    return lanes.get(model) if lanes else None


def choose(scope: RouteScope, model: str, lane: str | None) -> None:
    """Note (``None``: forget) the lane answering ``model`` in this request."""
    lanes = scope.get(CHOSEN_KEY)
    if lane is None:
        if lanes:
            lanes.pop(model, None)
    elif lanes is None:
        scope[CHOSEN_KEY] = {model: lane}
    else:
        lanes[model] = lane


def tenant(scope: RouteScope) -> str:
    return str(scope.get(TENANT_KEY, ""))


def header(scope: RouteScope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def answered_version(model: str, default: str) -> str:
    """The version that answered ``model`` in this request (``default``: not a registry
    model, or not routed yet)."""
    scope = CURRENT.get()
    lane = chosen(scope, model) if scope is not None else None
    return lane.rpartition("@")[2] if lane else default


def version_header(scope: RouteScope | None = None) -> bytes | None:
    """``X-Model-Version``'s value: the versions the request's models answered at (``None``:
    no registry model answered)."""
    scope = CURRENT.get() if scope is None else scope
    lanes = scope.get(CHOSEN_KEY) if scope is not None else None
    if not lanes:
        return None
    if len(lanes) == 1:
        [lane] = lanes.values()
        found = _VERSION_BYTES.get(lane)
        if found is None:
            if len(_VERSION_BYTES) > MAX_REMEMBERED:
                _VERSION_BYTES.clear()
            found = _VERSION_BYTES[lane] = lane.rpartition("@")[2].encode()
        return found
    return ", ".join(lane.rpartition("@")[2] for lane in lanes.values()).encode()


MAX_REMEMBERED = 1024
