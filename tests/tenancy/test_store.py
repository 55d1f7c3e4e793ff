"""The tenant store on every backend: tenants, limits, keys, revocation, the pepper."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from scaleserve.errors import QueueUnavailable, RequestError, TenantExists, UnknownTenant
from scaleserve.queue.backends.redis_connection import connect
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy.backends.redis import RedisTenancyStore
from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore
from scaleserve.tenancy.keys import KeyHasher, new_key
from scaleserve.tenancy.records import ADMIN_TENANT, ApiKey, Limits, Tenant
from scaleserve.tenancy.store import issue_key
from scaleserve.testing import free_port
from tests.tenancy.conftest import Backing, Store

FULL = Limits(
    requests_per_s=2.5,
    requests_burst=5,
    items_per_s=100.0,
    items_burst=250,
    daily_requests=10_000,
    daily_items=1_000_000,
    max_concurrent=3,
)
HASH = "ab" * 32


async def issue(store: Store, tenant: str, label: str = "", now: float = 2.0) -> tuple[ApiKey, str]:
    return await issue_key(store, KeyHasher(await store.pepper()), tenant, label, now)


async def find(store: Store, plaintext: str) -> tuple[ApiKey, Tenant] | None:
    return await store.find_key(KeyHasher(await store.pepper()).hash(plaintext))


async def test_create_then_get(store: Store) -> None:
    created = await store.create_tenant("acme", FULL, 10.5)
    assert created == Tenant("acme", FULL, 10.5)
    assert await store.get_tenant("acme") == created
    assert await store.get_tenant("nobody") is None


async def test_a_name_is_taken_once_even_after_revocation(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    with pytest.raises(TenantExists):
        await store.create_tenant("acme", FULL, 2.0)
    await store.revoke_tenant("acme", 3.0)
    with pytest.raises(TenantExists):
        await store.create_tenant("acme", Limits(), 4.0)
    assert await store.get_tenant("acme") == Tenant("acme", Limits(), 1.0, 3.0)


@pytest.mark.parametrize(
    "name", ["", "Acme", "a b", "acme\n", "-acme", ".acme", "a" * 65, "_admin2", "a/b", "é"]
)
async def test_invalid_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(RequestError, match="invalid tenant name"):
        await store.create_tenant(name, Limits(), 1.0)
    assert await store.count_tenants() == 0


async def test_list_and_count_leave_the_admin_owner_out(store: Store) -> None:
    for name in ["zeta", "acme", "m.2", ADMIN_TENANT]:
        await store.create_tenant(name, Limits(), 1.0)
    assert [t.name for t in await store.list_tenants()] == ["acme", "m.2", "zeta"]
    assert await store.count_tenants() == 3
    assert await store.get_tenant(ADMIN_TENANT) == Tenant(ADMIN_TENANT, Limits(), 1.0)


async def test_limits_round_trip(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    assert await store.set_limits("acme", FULL) == Tenant("acme", FULL, 1.0)
    stored = await store.get_tenant("acme")
    assert stored is not None and stored.limits == FULL
    assert isinstance(stored.limits.requests_burst, int)
    assert isinstance(stored.limits.requests_per_s, float)
    assert (await store.set_limits("acme", Limits(daily_items=5))).limits == Limits(daily_items=5)
    with pytest.raises(UnknownTenant):
        await store.set_limits("nobody", FULL)
    assert await store.get_tenant("nobody") is None


async def test_a_key_is_found_by_its_hash_with_its_tenant(store: Store) -> None:
    tenant = await store.create_tenant("acme", FULL, 1.0)
    record, plaintext = await issue(store, "acme", "ci", 2.0)
    assert record == ApiKey(record.id, "acme", 2.0, "ci")
    assert await find(store, plaintext) == (record, tenant)
    assert await find(store, new_key()[1]) is None
    assert await store.find_key(HASH) is None


async def test_keys_only_for_active_tenants(store: Store) -> None:
    key_id, _ = new_key()
    with pytest.raises(UnknownTenant):
        await store.add_key("nobody", key_id, HASH, "", 1.0)
    await store.create_tenant("acme", Limits(), 1.0)
    await store.revoke_tenant("acme", 2.0)
    with pytest.raises(UnknownTenant):
        await store.add_key("acme", key_id, HASH, "", 3.0)
    with pytest.raises(UnknownTenant):
        await store.list_keys("nobody")


async def test_a_taken_key_id_or_hash_is_refused(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    first = await store.add_key("acme", "0000beef", HASH, "first", 2.0)
    assert first == ApiKey("0000beef", "acme", 2.0, "first")
    assert await store.add_key("acme", "0000beef", "cd" * 32, "", 3.0) is None
    assert await store.add_key("acme", "1111beef", HASH, "", 3.0) is None
    assert await store.list_keys("acme") == [first]


async def test_malformed_key_records_are_refused(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    with pytest.raises(ValueError, match="key id"):
        await store.add_key("acme", "NOT-HEX!", HASH, "", 1.0)
    with pytest.raises(ValueError, match="key id"):
        await store.add_key("acme", "0000beef", "plaintext", "", 1.0)
    with pytest.raises(RequestError, match="label"):
        await store.add_key("acme", "0000beef", HASH, "x" * 201, 1.0)


async def test_revoking_a_key(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    revoked, plaintext = await issue(store, "acme", "old")
    kept, other = await issue(store, "acme", "new")
    assert await store.revoke_key(revoked.id, 5.0) == ApiKey(revoked.id, "acme", 2.0, "old", 5.0)
    found = await find(store, plaintext)
    assert found is not None and found[0].revoked_at == 5.0 and found[1].active
    assert (await store.revoke_key(revoked.id, 9.0)).revoked_at == 5.0  # the first time stays
    assert await find(store, other) == (kept, Tenant("acme", Limits(), 1.0))
    with pytest.raises(RequestError, match="no API key") as raised:
        await store.revoke_key("0000dead", 6.0)
    assert type(raised.value) is RequestError


async def test_revoking_a_tenant_revokes_every_key_of_it(store: Store) -> None:
    for name in ["acme", "other"]:
        await store.create_tenant(name, Limits(), 1.0)
    early, _ = await issue(store, "acme", now=1.5)
    keys = [await issue(store, "acme") for _ in range(3)]
    bystander, bystander_key = await issue(store, "other")
    await store.revoke_key(early.id, 4.0)
    assert await store.revoke_tenant("acme", 7.0) == Tenant("acme", Limits(), 1.0, 7.0)
    for record, plaintext in keys:
        found = await find(store, plaintext)
        assert found is not None
        assert found[0] == ApiKey(record.id, "acme", 2.0, "", 7.0)
        assert found[1].revoked_at == 7.0
    listed = await store.list_keys("acme")
    assert [k.revoked_at for k in listed] == [4.0, 7.0, 7.0, 7.0]
    assert (await store.revoke_tenant("acme", 9.0)).revoked_at == 7.0
    assert await find(store, bystander_key) == (bystander, Tenant("other", Limits(), 1.0))
    with pytest.raises(UnknownTenant):
        await store.revoke_tenant("nobody", 1.0)


@pytest.mark.parametrize("name", ["acme:keys", "acme\n", "*", "Acme"])
async def test_a_name_no_tenant_can_have_finds_nothing(store: Store, name: str) -> None:
    await store.create_tenant("acme", FULL, 1.0)
    await issue(store, "acme")
    assert await store.get_tenant(name) is None
    attempts = [
        lambda: store.set_limits(name, Limits()),
        lambda: store.revoke_tenant(name, 2.0),
        lambda: store.list_keys(name),
        lambda: store.add_key(name, "0000beef", HASH, "", 2.0),
    ]
    for attempt in attempts:
        with pytest.raises(UnknownTenant):
            await attempt()
    assert await store.query(name) == []
    assert await store.find_key("acme") is None
    assert [t.name for t in await store.list_tenants()] == ["acme"]
    assert await store.list_keys("acme") != []


async def test_keys_are_listed_oldest_first(store: Store) -> None:
    await store.create_tenant("acme", Limits(), 1.0)
    records = [(await issue(store, "acme", f"k{n}", 10.0 - n))[0] for n in range(3)]
    assert await store.list_keys("acme") == records[::-1]
    await store.create_tenant("empty", Limits(), 1.0)
    assert await store.list_keys("empty") == []


async def test_the_pepper_is_drawn_once(store: Store) -> None:
    pepper = await store.pepper()
    assert len(pepper) == 32 and await store.pepper() == pepper


async def test_the_pepper_survives_a_reopen(durable: Backing) -> None:
    first = await durable.open()
    pepper = await first.pepper()
    await first.close()
    assert await (await durable.open()).pepper() == pepper


async def test_concurrent_first_callers_get_one_pepper(durable: Backing) -> None:
    stores = [await durable.open() for _ in range(4)]
    peppers = await asyncio.gather(*(s.pepper() for s in stores for _ in range(3)))
    assert len(set(peppers)) == 1


async def test_what_one_store_writes_another_reads(durable: Backing) -> None:
    writer, reader = await durable.open(), await durable.open()
    await writer.create_tenant("acme", FULL, 1.0)
    record, plaintext = await issue(writer, "acme")
    assert await find(reader, plaintext) == (record, Tenant("acme", FULL, 1.0))
    await reader.revoke_tenant("acme", 3.0)
    found = await find(writer, plaintext)
    assert found is not None and found[0].revoked_at == 3.0


async def test_the_sqlite_file_is_private(tmp_path: Path) -> None:
    store = SqliteTenancyStore(tmp_path / "new" / "tenants.sqlite3")
    await store.open()
    try:
        await store.create_tenant("acme", Limits(), 1.0)
        files = list((tmp_path / "new").iterdir())
        assert len(files) == 3  # the database, its WAL and its shared-memory index
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        await store.close()


async def test_an_unreachable_redis_is_unavailable_not_a_crash() -> None:
    redis = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    store = RedisTenancyStore(redis, RedisKeys("sstest-unreachable"))
    try:
        with pytest.raises(QueueUnavailable, match="tenant store"):
            await store.find_key(HASH)
        with pytest.raises(QueueUnavailable):
            await store.create_tenant("acme", Limits(), 1.0)
    finally:
        await redis.aclose()
