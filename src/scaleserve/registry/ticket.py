"""Which version answers a request: chosen once per request, known to whoever asks.

The gateway opens a ``RouteTicket`` for each request (its tenant and headers, for sticky
routing); the first part of the request that needs a registry model's version (the cache
key, the queue) has the router choose it, and every later part of the same request gets the
same answer. The response carries the versions that answered (``X-Model-Version``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field

VERSION_HEADER = b"x-model-version"


@dataclass(slots=True)
class RouteTicket:
    tenant: str = ""
    headers: Sequence[tuple[bytes, bytes]] = ()
    chosen: dict[str, str] = field(default_factory=dict)
    """Model -> the version (lane) chosen for this request."""

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


CURRENT: contextvars.ContextVar[RouteTicket | None] = contextvars.ContextVar(
    "scaleserve_route_ticket", default=None
)


def current() -> RouteTicket | None:
    return CURRENT.get()


def open_ticket(tenant: str, headers: Sequence[tuple[bytes, bytes]]) -> RouteTicket:
    """A new ticket for the request now running in this context."""
    ticket = RouteTicket(tenant, headers)
    CURRENT.set(ticket)
    return ticket


def answered_version(model: str, default: str) -> str:
    """The version that answered ``model`` in this request (``default``: not a registry
    model, or not routed yet)."""
    ticket = CURRENT.get()
    lane = ticket.chosen.get(model) if ticket is not None else None
    return lane.rpartition("@")[2] if lane else default


def version_header(ticket: RouteTicket) -> bytes | None:
    """``X-Model-Version``'s value: the versions the request's models answered at."""
    if not ticket.chosen:
        return None
    return ", ".join(lane.rpartition("@")[2] for lane in ticket.chosen.values()).encode()
