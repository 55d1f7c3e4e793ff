"""Admission in one process: the embedded gateway's rate limits, quotas and concurrency cap."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from scaleserve.errors import RateLimited
from scaleserve.tenancy.limits import (
    CONCURRENCY_RETRY_AFTER_S,
    Admission,
    Bucket,
    Permit,
    check_quotas,
    draw,
    has_quota,
    refuse_impossible,
    utc_day,
)
from scaleserve.tenancy.records import Limits

_SWEEP_PER_CALL = 2


@dataclass
class _TenantState:
    buckets: dict[str, Bucket] = field(default_factory=dict)
    day: str = ""
    used: tuple[int, int] = (0, 0)  # requests and items admitted on ``day``
    leases: set[str] = field(default_factory=set)

    def forgettable(self, now_s: float, today: str) -> bool:
        """Whether dropping this state changes nothing: full buckets, no count of today, no
        request in flight."""
        full = all(bucket.full_at_s <= now_s for bucket in self.buckets.values())
        return full and self.day != today and not self.leases


class MemoryAdmission(Admission):
    """Admission for a single gateway. ``clock`` times the buckets, ``wall_clock`` (Unix
    time) tells the UTC day. O(1) per call; a tenant's state is forgotten once forgetting
    it changes nothing, found by a round-robin sweep of a few tenants per call."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._tenants: OrderedDict[str, _TenantState] = OrderedDict()
        self._lease_ids = itertools.count(1)

    @property
    def tracked_tenants(self) -> int:
        """How many tenants' state is kept (it stays bounded by the tenants active lately)."""
        return len(self._tenants)

    async def admit(self, tenant: str, limits: Limits, items: int) -> Permit:
        if limits.unlimited:
            return Permit(tenant, None)
        refuse_impossible(limits, items)
        now_s, wall_s = self._clock(), self._wall_clock()
        today = utc_day(wall_s)
        self._sweep(now_s, today)
        state = self._tenants.setdefault(tenant, _TenantState())
        counting = has_quota(limits)
        used = state.used if state.day == today else (0, 0)
        if counting:
            check_quotas(limits, items, used, wall_s)
        buckets = draw(limits, items, state.buckets, now_s)
        cap = limits.max_concurrent
        if cap is not None and len(state.leases) >= cap:
            raise RateLimited("max_concurrent", CONCURRENCY_RETRY_AFTER_S)
        state.buckets.update(buckets)
        if counting:
            state.day, state.used = today, (used[0] + 1, used[1] + items)
        return Permit(tenant, self._lease(state) if cap is not None else None)

    async def release(self, permit: Permit) -> None:
        state = self._tenants.get(permit.tenant)
        if state is not None and permit.lease is not None:
            state.leases.discard(permit.lease)

    def _lease(self, state: _TenantState) -> str:
        lease = str(next(self._lease_ids))
        state.leases.add(lease)
        return lease

    def _sweep(self, now_s: float, today: str) -> None:
        """Look at the next few tenants in turn: forget them or move them to the back."""
        for _ in range(min(_SWEEP_PER_CALL, len(self._tenants))):
            name, state = next(iter(self._tenants.items()))
            if state.forgettable(now_s, today):
                del self._tenants[name]
            else:
                self._tenants.move_to_end(name)
