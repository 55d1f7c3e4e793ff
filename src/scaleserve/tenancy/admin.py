"""Administering tenants: what the admin API, the ``scaleserve tenants`` command and the
first start of a service share."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from scaleserve.errors import TenantExists
from scaleserve.tenancy.keys import KeyHasher
from scaleserve.tenancy.records import ADMIN_TENANT, DEFAULT_TENANT, ApiKey, Limits, Tenant
from scaleserve.tenancy.store import TenantStore, issue_key


@dataclass(frozen=True)
class NewKey:
    """A key just issued: the only moment its plaintext exists."""

    record: ApiKey
    key: str


async def create_tenant(
    store: TenantStore, hasher: KeyHasher, name: str, limits: Limits, now: float
) -> tuple[Tenant, NewKey]:
    """A new tenant and its first API key."""
    tenant = await store.create_tenant(name, limits, now)
    record, key = await issue_key(store, hasher, name, "first key", now)
    return tenant, NewKey(record, key)


async def new_admin_key(store: TenantStore, hasher: KeyHasher, label: str, now: float) -> NewKey:
    """An admin key (the admin owner is created on first use)."""
    if await store.get_tenant(ADMIN_TENANT) is None:
        # another gateway or the CLI may have created it meanwhile
        with contextlib.suppress(TenantExists):
            await store.create_tenant(ADMIN_TENANT, Limits(), now)
    record, key = await issue_key(store, hasher, ADMIN_TENANT, label, now)
    return NewKey(record, key)


async def bootstrap(store: TenantStore, hasher: KeyHasher, now: float) -> list[NewKey]:
    """First start of a deployment: a ``default`` tenant with a key when there is no tenant,
    and an admin key when there is no admin owner. Returns the keys made (to print once)."""
    made: list[NewKey] = []
    if await store.count_tenants() == 0:
        with contextlib.suppress(TenantExists):
            made.append((await create_tenant(store, hasher, DEFAULT_TENANT, Limits(), now))[1])
    if await store.get_tenant(ADMIN_TENANT) is None:
        made.append(await new_admin_key(store, hasher, "first admin key", now))
    return made
