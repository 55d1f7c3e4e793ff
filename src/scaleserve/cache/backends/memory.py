"""The memory tier: a bounded LRU per model inside one gateway process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from scaleserve.cache.backend import Entry, Tier
from scaleserve.observe import metrics


@dataclass(frozen=True)
class Bound:
    """Most entries, and most bytes of outputs, one model may hold in memory."""

    max_entries: int
    max_bytes: int


class ModelLru:
    """One model's entries, least recently used first; evicts to stay within ``bound``."""

    def __init__(self, model: str, bound: Bound) -> None:
        self.bound = bound
        self.size_bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._evictions = metrics.CACHE_EVICTIONS.labels(model, "memory")
        self._entries_gauge = metrics.CACHE_ENTRIES.labels(model, "memory")
        self._bytes_gauge = metrics.CACHE_BYTES.labels(model)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.keep_until <= now:
            self._drop(key)
            self._report()
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        if entry.size_bytes > self.bound.max_bytes:
            return  # one output bigger than the whole bound: never worth evicting everything
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self.size_bytes += entry.size_bytes
        evicted = 0
        while len(self._entries) > self.bound.max_entries or self.size_bytes > self.bound.max_bytes:
            self._drop(next(iter(self._entries)))
            evicted += 1
        if evicted:
            self._evictions.inc(evicted)
        self._report()

    def clear(self) -> int:
        dropped = len(self._entries)
        self._entries.clear()
        self.size_bytes = 0
        self._report()
        return dropped

    def _drop(self, key: str) -> None:
        self.size_bytes -= self._entries.pop(key).size_bytes

    def _report(self) -> None:
        self._entries_gauge.set(len(self._entries))
        self._bytes_gauge.set(self.size_bytes)


class MemoryBackend:
    """The ``memory`` tier; see ``scaleserve.cache.backend.CacheBackend``.

    Expired entries are dropped when next looked up, and the LRU order evicts the rest
    first, so no sweeper task is needed.
    """

    tier: Tier = "memory"

    def __init__(
        self,
        bounds: Mapping[str, Bound],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lrus = {model: ModelLru(model, bound) for model, bound in bounds.items()}
        self._clock = clock

    def lru(self, model: str) -> ModelLru:
        return self._lrus[model]

    async def get_many(self, model: str, keys: Sequence[str]) -> list[Entry | None]:
        lru = self._lrus.get(model)
        if lru is None:
            return [None] * len(keys)
        now = self._clock()
        return [lru.get(key, now) for key in keys]

    async def put_many(self, model: str, entries: Sequence[tuple[str, Entry]]) -> None:
        lru = self._lrus.get(model)
        if lru is None:
            return
        for key, entry in entries:
            lru.put(key, entry)

    async def purge(self, model: str) -> int:
        lru = self._lrus.get(model)
        return 0 if lru is None else lru.clear()

    def forget(self, model: str) -> None:
        """Drop ``model``'s entries without reporting a count (another gateway purged it)."""
        lru = self._lrus.get(model)
        if lru is not None:
            lru.clear()

    async def close(self) -> None:
        for lru in self._lrus.values():
            lru.clear()
