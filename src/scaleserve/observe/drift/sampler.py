"""Which items of a batch drift looks at: all, until the rate passes a cap, then every k-th."""

from __future__ import annotations

import math
from collections.abc import Callable


class StrideSampler:
    """Systematic sampling whose stride follows the arrival rate.

    Every item is taken while fewer than ``max_items_per_s`` arrive a second. When the clock
    enters a new second the stride becomes ``ceil(rate / max_items_per_s)``, the rate being
    that of the seconds since the last change; within a second it grows as soon as the items
    arrived would let more than ``max_items_per_s`` through. So about ``max_items_per_s`` items
    a second are taken, evenly spread over the stream (a sudden burst: a few times that, for
    one second).
    """

    def __init__(self, max_items_per_s: float | None, clock: Callable[[], float]) -> None:
        self._max = max_items_per_s
        self._clock = clock
        self._second = math.floor(clock())
        self._arrived = 0  # in the current second
        self._skip = 0  # items to pass over before the next one taken
        self.stride = 1

    def select(self, count: int) -> range:
        """The positions taken out of the next ``count`` items."""
        if self._max is not None:
            self._follow_rate(self._max, count)
        taken = range(self._skip, count, self.stride)
        self._skip = (taken[-1] + self.stride - count) if taken else self._skip - count
        return taken

    def _follow_rate(self, max_items_per_s: float, count: int) -> None:
        second = math.floor(self._clock())
        if second > self._second:
            rate = self._arrived / (second - self._second)
            self.stride = max(1, math.ceil(rate / max_items_per_s))
            self._second, self._arrived = second, 0
        self._arrived += count
        if self._arrived > max_items_per_s * self.stride:
            self.stride = math.ceil(self._arrived / max_items_per_s)
        self._skip = min(self._skip, self.stride - 1)
