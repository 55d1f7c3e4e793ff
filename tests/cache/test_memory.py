from __future__ import annotations

from prometheus_client import REGISTRY

from scaleserve.cache.backend import Entry
from scaleserve.cache.backends.memory import Bound, MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(name: str, model: str) -> float:
    return REGISTRY.get_sample_value(name, {"model": model, "tier": "memory"}) or 0.0


def entry(output: bytes, clock: Clock, ttl_s: float = 10, stale_s: float = 0) -> Entry:
    return Entry(output, clock.now + ttl_s, clock.now + ttl_s + stale_s)


async def test_the_least_recently_used_entry_goes_first() -> None:
    clock = Clock()
    memory = MemoryBackend({"lru": Bound(max_entries=2, max_bytes=1000)}, clock)
    evicted_before = sample("scaleserve_cache_evictions_total", "lru")
    await memory.put_many("lru", [("a", entry(b"1", clock)), ("b", entry(b"2", clock))])
    await memory.get_many("lru", ["a"])  # a is now more recent than b
    await memory.put_many("lru", [("c", entry(b"3", clock))])
    assert [e is not None for e in await memory.get_many("lru", ["a", "b", "c"])] == [
        True,
        False,
        True,
    ]
    assert sample("scaleserve_cache_evictions_total", "lru") == evicted_before + 1
    assert sample("scaleserve_cache_entries", "lru") == 2


async def test_the_byte_bound_holds_too() -> None:
    clock = Clock()
    memory = MemoryBackend({"bytes": Bound(max_entries=100, max_bytes=10)}, clock)
    await memory.put_many("bytes", [(str(i), entry(b"1234", clock)) for i in range(5)])
    assert memory.lru("bytes").size_bytes == 8
    assert len(memory.lru("bytes")) == 2
    assert REGISTRY.get_sample_value("scaleserve_cache_bytes", {"model": "bytes"}) == 8


async def test_an_output_larger_than_the_bound_is_not_kept() -> None:
    clock = Clock()
    memory = MemoryBackend({"big": Bound(max_entries=100, max_bytes=10)}, clock)
    await memory.put_many("big", [("small", entry(b"1", clock))])
    await memory.put_many("big", [("huge", entry(b"x" * 11, clock))])
    assert [e is not None for e in await memory.get_many("big", ["small", "huge"])] == [
        True,
        False,
    ]


async def test_expiry_follows_the_clock() -> None:
    clock = Clock()
    memory = MemoryBackend({"ttl": Bound(10, 1000)}, clock)
    await memory.put_many("ttl", [("k", entry(b"1", clock, ttl_s=10, stale_s=5))])
    clock.now += 12
    [stale] = await memory.get_many("ttl", ["k"])
    assert stale is not None and not stale.fresh(clock.now)
    clock.now += 5
    assert await memory.get_many("ttl", ["k"]) == [None]
    assert len(memory.lru("ttl")) == 0


async def test_replacing_a_key_keeps_the_byte_count_right() -> None:
    clock = Clock()
    memory = MemoryBackend({"re": Bound(10, 1000)}, clock)
    await memory.put_many("re", [("k", entry(b"12345", clock))])
    await memory.put_many("re", [("k", entry(b"12", clock))])
    assert memory.lru("re").size_bytes == 2 and len(memory.lru("re")) == 1


async def test_a_model_without_a_bound_is_never_stored() -> None:
    memory = MemoryBackend({})
    await memory.put_many("unknown", [("k", entry(b"1", Clock()))])
    assert await memory.get_many("unknown", ["k"]) == [None]
    assert await memory.purge("unknown") == 0
