"""The tiers in order: the gateway's memory first, then Redis, with hits promoted upwards."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from scaleserve.cache.backend import CacheBackend, Entry, Tier


class Found(NamedTuple):
    """A cached entry and the tier it came from."""

    entry: Entry
    tier: Tier


class TieredStore:
    """Looks keys up tier by tier and writes to every tier.

    An entry that is no longer fresh in a faster tier is looked for in the slower ones too:
    another gateway may have refreshed it there.
    """

    def __init__(
        self, tiers: Sequence[CacheBackend], clock: Callable[[], float] = time.time
    ) -> None:
        self.tiers = list(tiers)
        self._clock = clock

    @property
    def tier_names(self) -> list[Tier]:
        return [tier.tier for tier in self.tiers]

    async def get_many(self, model: str, keys: Sequence[str]) -> list[Found | None]:
        if not self.tiers:
            return [None] * len(keys)
        # The first tier alone answers most lookups (all hits in memory): no bookkeeping.
        first = self.tiers[0]
        entries = await first.get_many(model, keys)
        found = [None if e is None else Found(e, first.tier) for e in entries]
        now = self._clock()
        wanted = [i for i, e in enumerate(entries) if e is None or not e.fresh(now)]
        if wanted and len(self.tiers) > 1:
            await self._get_below(model, keys, found, wanted, now)
        return found

    async def _get_below(
        self,
        model: str,
        keys: Sequence[str],
        found: list[Found | None],
        wanted: list[int],
        now: float,
    ) -> None:
        """Look up ``wanted`` in the tiers after the first, promoting what they hold."""
        for depth, tier in enumerate(self.tiers[1:], start=1):
            entries = await tier.get_many(model, [keys[i] for i in wanted])
            still: list[int] = []
            promote: list[tuple[str, Entry]] = []
            for i, entry in zip(wanted, entries, strict=True):
                if entry is not None and _fresher(entry, found[i]):
                    found[i] = Found(entry, tier.tier)
                    promote.append((keys[i], entry))
                if entry is None or not entry.fresh(now):
                    still.append(i)
            if promote:
                await self._put_above(depth, model, promote)
            if not still:
                break
            wanted = still

    async def put_many(self, model: str, entries: Sequence[tuple[str, Entry]]) -> None:
        for tier in self.tiers:
            await tier.put_many(model, entries)

    async def purge(self, model: str) -> int:
        """Purge every tier, slowest first (a lookup racing the purge must not promote an
        entry back into a faster tier); the count is the largest a tier reported."""
        counts = [await tier.purge(model) for tier in reversed(self.tiers)]
        return max(counts, default=0)

    async def close(self) -> None:
        for tier in self.tiers:
            await tier.close()

    async def _put_above(self, depth: int, model: str, entries: list[tuple[str, Entry]]) -> None:
        for tier in self.tiers[:depth]:
            await tier.put_many(model, entries)


def _fresher(entry: Entry, than: Found | None) -> bool:
    return than is None or entry.fresh_until > than.entry.fresh_until
