"""A worker's service curve: seconds per batch as a function of its size, from recent batches.

A batching worker's throughput depends on how full its batches are: a GPU-bound model takes
about as long for 8 items as for 1, a CPU-bound one about 8 times as long. Measuring items
per busy second at whatever batches the load happens to make underestimates what a worker
can do when more items wait, and an autoscaler that trusts that number keeps adding workers
(whose batches then grow smaller still). So the curve ``seconds = fixed + per_item x items``
is fitted by least squares to the recent batches, and the rate is read off it at the largest
batch the model runs, but never more than twice the largest batch seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_BATCHES = 8
"""Fewer batches than this tell nothing yet."""
EXTRAPOLATION = 2.0
"""The rate is read at no more than this many times the largest batch seen."""


@dataclass(frozen=True)
class ServiceCurve:
    fixed_s: float
    per_item_s: float
    largest_seen: int

    @classmethod
    def fit(cls, batches: Sequence[tuple[int, float]]) -> ServiceCurve | None:
        """The curve of ``batches`` (items, seconds); ``None`` until there are enough."""
        useful = [(items, seconds) for items, seconds in batches if items > 0 and seconds > 0]
        if len(useful) < MIN_BATCHES:
            return None
        count = len(useful)
        mean_items = sum(items for items, _ in useful) / count
        mean_s = sum(seconds for _, seconds in useful) / count
        spread = sum((items - mean_items) ** 2 for items, _ in useful)
        largest = max(items for items, _ in useful)
        if spread == 0:  # one size only: assume the time grows with the items (cautious)
            return cls(0.0, mean_s / mean_items, largest)
        slope = sum((i - mean_items) * (s - mean_s) for i, s in useful) / spread
        fixed = mean_s - slope * mean_items
        if slope < 0:  # noise: the time does not grow with the items
            return cls(mean_s, 0.0, largest)
        if fixed < 0:  # noise the other way: proportional to the items
            return cls(0.0, mean_s / mean_items, largest)
        return cls(fixed, slope, largest)

    def items_per_s(self, max_batch_size: int) -> float:
        """Items per busy second at the largest batch, within the extrapolation limit."""
        size = max(1.0, min(float(max_batch_size), EXTRAPOLATION * self.largest_seen))
        return size / (self.fixed_s + self.per_item_s * size)
