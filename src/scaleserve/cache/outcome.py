"""How a request's items were served, and the ``X-Cache`` header that says so.

One value when every item was served the same way (``hit-memory``, ``hit-redis``,
``hit-semantic``, ``stale``, ``miss``); the counts when they were not, in that order:
``hit-memory=20, miss=12``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Served(enum.StrEnum):
    HIT_MEMORY = "hit-memory"
    HIT_REDIS = "hit-redis"
    HIT_SEMANTIC = "hit-semantic"
    STALE = "stale"
    MISS = "miss"


_HEADER_VALUES = {served: served.value.encode() for served in Served}
_ORDER = list(Served)
_HEADER_VALUES_BY_NAME = {str(served): header for served, header in _HEADER_VALUES.items()}


class Tally:
    """Counts of ``Served`` for one request."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # by Served value: str keys hash fastest

    def add(self, served: Served, count: int = 1) -> None:
        if count:
            self.counts[served] = self.counts.get(served, 0) + count

    def header(self) -> bytes:
        if len(self.counts) == 1:
            return _HEADER_VALUES_BY_NAME[next(iter(self.counts))]
        return ", ".join(f"{s.value}={self.counts[s]}" for s in _ORDER if s in self.counts).encode()


@dataclass(frozen=True)
class CacheControl:
    """What the client's ``Cache-Control`` request header allows: ``no-cache`` skips the
    lookup (the answer is computed afresh, and stored); ``no-store`` keeps the answer out of
    the cache."""

    read: bool = True
    store: bool = True

    @classmethod
    def parse(cls, header: str | None) -> CacheControl:
        if not header:
            return DEFAULT_CONTROL
        directives = {part.strip().lower() for part in header.split(",")}
        return cls(read="no-cache" not in directives, store="no-store" not in directives)


DEFAULT_CONTROL = CacheControl()
