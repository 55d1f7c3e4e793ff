"""Compute seconds spent on the current request, as its workers measured them.

Workers time each batch and apportion it over the batch's items (``ItemResult.compute_s``).
A gateway that wants to know what a request cost opens a ``Meter`` with ``metered()``
around the work; every request the broker opens in that context adds its items' compute
seconds to it as their results arrive, however many layers (cache, protocol routes) sit
between the route and the broker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar


class Meter:
    """Running totals of one request's work."""

    __slots__ = ("compute_s",)

    def __init__(self) -> None:
        self.compute_s = 0.0


_current: ContextVar[Meter | None] = ContextVar("scaleserve_meter", default=None)


def current_meter() -> Meter | None:
    """The meter of the request running in this context, if one is metered."""
    return _current.get()


@contextlib.contextmanager
def metered() -> Iterator[Meter]:
    """Meter the work done in this block (and in tasks it starts)."""
    meter = Meter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)
