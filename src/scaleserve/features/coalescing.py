"""One read for many requests: the gateway's feature reads, coalesced per tenant and view.

Requests that arrive together (in the same turn of the event loop) each ask for their own
entities; ``CoalescingReads`` waits for that turn to end, reads the union of their ids with
one ``read_many`` per (tenant, view), and gives each its part. A lone request pays no wait
beyond the turn, and a burst of single-item requests costs one round trip, as a worker's
batch would: the join is batched where the tenant is known, before anything is queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from scaleserve.features.store import DelegatingFeatureStore, EntityFeatures, FeatureStore
from scaleserve.features.views import FeatureView

MAX_IDS_PER_READ = 1024
"""A coalesced read takes at most this many ids; more go in the next read."""


@dataclass
class _Pending:
    view: FeatureView
    ids: set[str] = field(default_factory=set)
    now: float = 0.0
    waiters: list[asyncio.Future[dict[str, EntityFeatures]]] = field(default_factory=list)


class CoalescingReads(DelegatingFeatureStore):
    """A ``FeatureStore`` whose concurrent ``read_many`` calls share one read of the store."""

    def __init__(self, store: FeatureStore) -> None:
        super().__init__(store)
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._reads: set[asyncio.Task[None]] = set()  # held, so no read is collected early

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        key = (tenant, view.name)
        pending = self._pending.get(key)
        if pending is None or len(pending.ids) + len(entity_ids) > MAX_IDS_PER_READ:
            pending = self._pending[key] = _Pending(view)
            asyncio.get_running_loop().call_soon(self._flush, key, pending)
        pending.ids.update(entity_ids)
        pending.now = max(pending.now, now)
        waiter: asyncio.Future[dict[str, EntityFeatures]] = asyncio.Future()
        pending.waiters.append(waiter)
        found = await waiter
        return {i: found[i] for i in entity_ids}

    def _flush(self, key: tuple[str, str], pending: _Pending) -> None:
        if self._pending.get(key) is pending:
            del self._pending[key]
        task = asyncio.ensure_future(self._read(key[0], pending))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read(self, tenant: str, pending: _Pending) -> None:
        try:
            found = await self.store.read_many(
                tenant, pending.view, sorted(pending.ids), pending.now
            )
        except BaseException as exc:  # every waiter gets the failure, none hangs
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in pending.waiters:
            if not waiter.done():
                waiter.set_result(found)
