"""The gateway's per-request series of one model: requests, items and latency by version,
tenant and status, with each label set's children cached (``labels()`` costs more than the
increments it selects)."""

from __future__ import annotations

from typing import Any

from scaleserve.observe import metrics
from scaleserve.observe.tenant_labels import TenantLabels

MAX_CACHED = 4096
"""Label sets kept at once (versions x tenants x codes stay well under it)."""


class RequestMetrics:
    def __init__(self, model: str, tenants: TenantLabels) -> None:
        self._model = model
        self._tenants = tenants
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self.in_flight = metrics.IN_FLIGHT.labels(model)

    def record(self, version: str, tenant: str, code: int, items: int, took_s: float) -> None:
        """One answered request of ``tenant`` (``items`` items, 0 when it never got that far)."""
        key = (version, self._tenants.label(tenant), str(code))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._select(*key)
        requests, duration, item_count = children
        requests.inc()
        duration.observe(took_s)
        if items:
            item_count.inc(items)

    def _select(self, version: str, tenant: str, code: str) -> tuple[Any, Any, Any]:
        if len(self._children) >= MAX_CACHED:
            self._children.clear()
        labels = (self._model, version, tenant)
        return (
            metrics.REQUESTS.labels(*labels, code),
            metrics.REQUEST_DURATION.labels(*labels, code),
            metrics.REQUEST_ITEMS.labels(*labels),
        )
