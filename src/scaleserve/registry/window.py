"""What a rollout judges by: each lane's requests, errors and latency over one window (a
rollout step), and how often shadowed outputs agreed with the stable version's.

Latencies go into fixed log-spaced buckets (as Prometheus histograms do), so tallies from
many gateways add up exactly and a p95 is read from the merged counts.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

BUCKET_GROWTH = 1.2
LATENCY_BOUNDS_S: tuple[float, ...] = tuple(
    0.0001 * BUCKET_GROWTH**i for i in range(int(math.log(600 / 0.0001, BUCKET_GROWTH)) + 1)
)
"""Upper bounds of the latency buckets: 0.1 ms to 10 minutes, each 20 % above the last."""


@dataclass
class LaneTally:
    requests: int = 0
    errors: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def observe(self, latency_s: float, ok: bool) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
            return
        index = bisect.bisect_left(LATENCY_BOUNDS_S, latency_s)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def add(self, other: LaneTally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def quantile_s(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` of successful requests."""
        total = sum(self.buckets.values())
        if total == 0:
            return None
        rank = math.ceil(q * total)
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return LATENCY_BOUNDS_S[min(index, len(LATENCY_BOUNDS_S) - 1)]
        return LATENCY_BOUNDS_S[-1]


@dataclass
class WindowTally:
    lanes: dict[str, LaneTally] = field(default_factory=dict)
    agreed: int = 0
    disagreed: int = 0

    def lane(self, lane: str) -> LaneTally:
        return self.lanes.setdefault(lane, LaneTally())

    def add(self, other: WindowTally) -> None:
        for lane, tally in other.lanes.items():
            self.lane(lane).add(tally)
        self.agreed += other.agreed
        self.disagreed += other.disagreed

    @property
    def compared(self) -> int:
        return self.agreed + self.disagreed

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None
