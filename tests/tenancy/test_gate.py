"""The gate's key cache: one store lookup per key at a time, and revocations made here
take effect at once even against a lookup in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from scaleserve.errors import Unauthenticated
from scaleserve.tenancy import admin
from scaleserve.tenancy.backends.memory_limits import MemoryAdmission
from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore
from scaleserve.tenancy.gate import Gate
from scaleserve.tenancy.keys import KeyHasher
from scaleserve.tenancy.records import ApiKey, Limits, Tenant
from scaleserve.tenancy.usage import UsageRecorder


class HeldStore(SqliteTenancyStore):
    """Counts key lookups and holds each answer (read already) until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.lookups = 0
        self.release = asyncio.Event()

    async def find_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        self.lookups += 1
        found = await super().find_key(key_hash)
        await self.release.wait()
        return found


@pytest.fixture
async def store() -> AsyncIterator[HeldStore]:
    held = HeldStore()
    await held.open()
    yield held
    await held.close()


async def gate_with_key(store: HeldStore) -> tuple[Gate, str]:
    hasher = KeyHasher(await store.pepper())
    _, new = await admin.create_tenant(store, hasher, "acme", Limits(), time.time())
    usage = UsageRecorder(store)
    return Gate(store, store, MemoryAdmission(), usage, hasher), new.key


async def test_concurrent_requests_with_one_key_share_one_lookup(store: HeldStore) -> None:
    gate, key = await gate_with_key(store)
    callers = [asyncio.create_task(gate.authenticate(f"Bearer {key}")) for _ in range(300)]
    await asyncio.sleep(0)  # every caller reaches the lookup
    store.release.set()
    tenants = await asyncio.gather(*callers)
    assert {t.name for t in tenants} == {"acme"}
    assert store.lookups == 1


async def test_a_cancelled_caller_does_not_cancel_the_others_lookup(store: HeldStore) -> None:
    gate, key = await gate_with_key(store)
    first = asyncio.create_task(gate.authenticate(f"Bearer {key}"))
    second = asyncio.create_task(gate.authenticate(f"Bearer {key}"))
    await asyncio.sleep(0)
    first.cancel()
    store.release.set()
    assert (await second).name == "acme"
    assert store.lookups == 1


async def test_a_revocation_made_here_beats_a_lookup_in_flight(store: HeldStore) -> None:
    gate, key = await gate_with_key(store)
    in_flight = asyncio.create_task(gate.authenticate(f"Bearer {key}"))
    [record] = await store.list_keys("acme")
    while store.lookups == 0:  # noqa: ASYNC110 - the lookup starts on the loop's next turns
        await asyncio.sleep(0)
    await store.revoke_key(record.id, time.time())  # after the lookup read the key
    gate.forget_keys()  # as the admin listener does after revoking
    store.release.set()
    assert (await in_flight).name == "acme"  # it read the key before the revocation
    with pytest.raises(Unauthenticated):
        await gate.authenticate(f"Bearer {key}")
