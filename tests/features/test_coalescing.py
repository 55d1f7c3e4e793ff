"""Concurrent reads of one tenant's view share one read of the store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from scaleserve.features.backends.memory import MemoryFeatureStore
from scaleserve.features.coalescing import MAX_IDS_PER_READ, CoalescingReads
from scaleserve.features.store import EntityFeatures, EntityRow
from scaleserve.features.views import FeatureView

VIEW = FeatureView("users", entity_key="user_id", features={"age": int})


class CountingStore(MemoryFeatureStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, list[str]]] = []

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        self.reads.append((tenant, list(entity_ids)))
        return await super().read_many(tenant, view, entity_ids, now)


async def test_requests_of_one_turn_share_one_read_per_tenant() -> None:
    store = CountingStore()
    rows = {f"u{i}": EntityRow({"age": i}, 1.0) for i in range(10)}
    await store.write_many("acme", VIEW, rows)
    reads = CoalescingReads(store)
    results = await asyncio.gather(
        *(reads.read_many("acme", VIEW, [f"u{i}", "u0"], 2.0) for i in range(10)),
        reads.read_many("other", VIEW, ["u1"], 2.0),
    )
    assert sorted(t for t, _ in store.reads) == ["acme", "other"]
    assert [r[f"u{i}"].values["age"] for i, r in enumerate(results[:10])] == list(range(10))
    assert set(results[0]) == {"u0"} and set(results[3]) == {"u3", "u0"}
    assert results[10]["u1"].missing == frozenset({"age"})  # another tenant's nothing


async def test_a_failed_read_fails_every_waiter_and_the_next_read_is_fresh() -> None:
    class Failing(CountingStore):
        async def read_many(
            self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
        ) -> dict[str, EntityFeatures]:
            raise ConnectionError("down")

    reads = CoalescingReads(Failing())
    outcomes = await asyncio.gather(
        *(reads.read_many("acme", VIEW, ["a"], 1.0) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, ConnectionError) for o in outcomes)


async def test_a_read_over_the_cap_starts_another() -> None:
    store = CountingStore()
    reads = CoalescingReads(store)
    many = [f"e{i}" for i in range(MAX_IDS_PER_READ)]
    await asyncio.gather(
        reads.read_many("acme", VIEW, many, 1.0), reads.read_many("acme", VIEW, ["x"], 1.0)
    )
    assert len(store.reads) == 2


@pytest.mark.parametrize("count", [1, 5])
async def test_sequential_reads_are_not_held_back(count: int) -> None:
    store = CountingStore()
    reads = CoalescingReads(store)
    for _ in range(count):
        await reads.read_many("acme", VIEW, ["a"], 1.0)
    assert len(store.reads) == count
