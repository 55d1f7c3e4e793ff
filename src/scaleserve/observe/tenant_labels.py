"""Which tenants get a ``tenant`` label of their own on metrics, so that a platform with
thousands of tenants does not export thousands of series per metric.

The busiest tenants by request count get their own label, the rest share ``other``. Counts
decay (they are halved whenever their total passes a bound), so "busiest" means lately. A
tenant keeps the label it was given, for its counters to stay continuous, and at most
``2 * top`` labels are ever given: past that, newcomers are ``other`` however busy they get.
Cardinality per metric is therefore bounded by ``2 * top + 1`` tenants, whatever happens.
"""

from __future__ import annotations

import heapq
import os

OTHER = "other"
TOP_ENV = "SCALESERVE_METRICS_TENANTS"
DEFAULT_TOP = 10
RERANK_EVERY = 256
"""Requests between two looks at who is busiest."""
MAX_TRACKED = 10_000
"""Tenants whose counts are kept at once (the quietest are forgotten past this)."""
DECAY_AT = 1_000_000


class TenantLabels:
    def __init__(self, top: int = DEFAULT_TOP) -> None:
        self.top = max(0, top)
        self._counts: dict[str, int] = {}
        self._labelled: set[str] = set()
        self._since_rerank = 0
        self._total = 0

    @classmethod
    def from_env(cls) -> TenantLabels:
        value = os.environ.get(TOP_ENV, "")
        return cls(int(value) if value.isdigit() else DEFAULT_TOP)

    def label(self, tenant: str) -> str:
        """Count one request of ``tenant`` and return its label."""
        self._count(tenant)
        return tenant if tenant in self._labelled else OTHER

    def _count(self, tenant: str) -> None:
        counts = self._counts
        if tenant in counts or len(counts) < MAX_TRACKED:
            counts[tenant] = counts.get(tenant, 0) + 1
        self._total += 1
        self._since_rerank += 1
        if self._since_rerank >= RERANK_EVERY or (
            len(self._labelled) < self.top and tenant not in self._labelled
        ):
            self._rerank()

    def _rerank(self) -> None:
        self._since_rerank = 0
        if self._total > DECAY_AT:
            self._decay()
        if len(self._labelled) >= 2 * self.top:
            return
        busiest = heapq.nlargest(self.top, self._counts.items(), key=lambda item: item[1])
        for tenant, _ in busiest:
            if len(self._labelled) >= 2 * self.top:
                break
            self._labelled.add(tenant)

    def _decay(self) -> None:
        self._counts = {t: c // 2 for t, c in self._counts.items() if c > 1}
        self._total = sum(self._counts.values())
