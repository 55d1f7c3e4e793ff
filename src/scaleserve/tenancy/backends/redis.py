"""Tenants, API key hashes and usage in Redis, shared by every gateway and the CLI.

The key names are those of ``RedisKeys`` (tenancy section). A tenant is a hash (``limits``
JSON, ``created_at``, ``revoked_at`` once revoked) and a member of ``tenants()``; an API key
is a hash found by the key's keyed hash, with ``api_key_ids()`` mapping ids back to hashes.
Steps touching several keys are Lua scripts (``lua/``); two of them build key names from a
prefix because the second key is known only after reading the first, so this backend
needs a single Redis, not a Cluster. Usage is a hash per tenant of
``{model}|{day}|{measure}`` -> running total. The client must not decode responses. Redis
errors and timeouts surface as ``QueueUnavailable`` (503).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from scaleserve.errors import QueueUnavailable, TenantExists, UnknownTenant
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import RedisKeys
from scaleserve.tenancy import keys as api_keys
from scaleserve.tenancy.records import ADMIN_TENANT, ApiKey, Limits, Tenant, Usage
from scaleserve.tenancy.store import (
    check_new_key,
    check_tenant_name,
    is_key_hash,
    is_tenant_name,
    limits_from_json,
    limits_json,
    unknown_key,
)
from scaleserve.tenancy.usage import MEASURES, check_day, in_days

RawFields = dict[bytes, bytes]
_FLOAT_MEASURES = frozenset({"compute_s"})


@dataclass(frozen=True)
class _Scripts:
    create_tenant: AsyncScript
    set_limits: AsyncScript
    add_key: AsyncScript
    revoke_tenant: AsyncScript
    find_key: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> _Scripts:
        folder = resources.files("scaleserve.tenancy.backends") / "lua"

        def load(name: str) -> Any:
            return redis.register_script((folder / f"{name}.lua").read_text())

        return cls(*(load(name) for name in cls.__dataclass_fields__))


class RedisTenancyStore:
    """See ``scaleserve.tenancy.store.TenantStore`` and ``scaleserve.tenancy.usage.UsageStore``."""

    def __init__(self, redis: Redis, keys: RedisKeys | None = None) -> None:
        self._redis = redis
        self._keys = keys or RedisKeys()
        self._scripts = _Scripts.register(redis)
        self._pepper: bytes | None = None

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None  # the client belongs to whoever passed it in

    async def pepper(self) -> bytes:
        if self._pepper is None:
            with _reachable():
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.set(self._keys.key_pepper(), api_keys.new_pepper(), nx=True)
                    pipe.get(self._keys.key_pepper())
                    _, pepper = await pipe.execute()
            self._pepper = bytes(pepper)
        return self._pepper

    # -- tenants ---------------------------------------------------------------------------
    async def create_tenant(self, name: str, limits: Limits, now: float) -> Tenant:
        check_tenant_name(name)
        k = self._keys
        with _reachable():
            created = await self._scripts.create_tenant(
                keys=[k.tenants(), k.tenant(name)], args=[name, limits_json(limits), repr(now)]
            )
        if created != 1:
            raise TenantExists(name)
        return Tenant(name, limits, now)

    async def get_tenant(self, name: str) -> Tenant | None:
        if not is_tenant_name(name):
            return None
        with _reachable():
            fields = cast(RawFields, await self._redis.hgetall(self._keys.tenant(name)))
        return _tenant(name, fields) if fields else None

    async def list_tenants(self) -> list[Tenant]:
        names = sorted(n for n in await self._tenant_names() if n != ADMIN_TENANT)
        with _reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._keys.tenant(name))
                records = cast(list[RawFields], await pipe.execute())
        return [_tenant(n, fields) for n, fields in zip(names, records, strict=True) if fields]

    async def count_tenants(self) -> int:
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.scard(self._keys.tenants())
                pipe.sismember(self._keys.tenants(), ADMIN_TENANT)
                count, has_admin = await pipe.execute()
        return int(count) - int(has_admin)

    async def set_limits(self, name: str, limits: Limits) -> Tenant:
        _check_known(name)
        with _reachable():
            fields = await self._scripts.set_limits(
                keys=[self._keys.tenant(name)], args=[limits_json(limits)]
            )
        if fields is None:
            raise UnknownTenant(name)
        return _tenant(name, _pairs(fields))

    async def revoke_tenant(self, name: str, now: float) -> Tenant:
        _check_known(name)
        k = self._keys
        with _reachable():
            fields = await self._scripts.revoke_tenant(
                keys=[k.tenant(name), k.tenant_keys(name), k.api_key_ids()],
                args=[repr(now), k.api_key("")],
            )
        if fields is None:
            raise UnknownTenant(name)
        return _tenant(name, _pairs(fields))

    # -- keys ------------------------------------------------------------------------------
    async def add_key(
        self, tenant: str, key_id: str, key_hash: str, label: str, now: float
    ) -> ApiKey | None:
        check_new_key(key_id, key_hash, label)
        _check_known(tenant)
        k = self._keys
        with _reachable():
            added = await self._scripts.add_key(
                keys=[
                    k.tenant(tenant),
                    k.tenant_keys(tenant),
                    k.api_key(key_hash),
                    k.api_key_ids(),
                ],
                args=[key_id, key_hash, tenant, label, repr(now)],
            )
        if added == -1:
            raise UnknownTenant(tenant)
        return ApiKey(key_id, tenant, now, label) if added == 1 else None

    async def find_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        if not is_key_hash(key_hash):
            return None
        with _reachable():
            found = await self._scripts.find_key(
                keys=[self._keys.api_key(key_hash)], args=[self._keys.tenant("")]
            )
        if found is None:
            return None
        key, tenant = _pairs(found[0]), _pairs(found[1])
        if not tenant:
            return None  # a key without its tenant is no key at all
        return _key(key), _tenant(key[b"tenant"].decode(), tenant)

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        with _reachable():
            key_hash = await self._redis.hget(self._keys.api_key_ids(), key_id)
            if key_hash is None:
                raise unknown_key(key_id)
            record = self._keys.api_key(cast(bytes, key_hash).decode())
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(record, "revoked_at", repr(now))
                pipe.hgetall(record)
                _, fields = await pipe.execute()
        return _key(fields)

    async def list_keys(self, tenant: str) -> list[ApiKey]:
        _check_known(tenant)
        k = self._keys
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.exists(k.tenant(tenant))
                pipe.smembers(k.tenant_keys(tenant))
                exists, ids = await pipe.execute()
            if not exists:
                raise UnknownTenant(tenant)
            records = await self._key_records(sorted(ids))
        return sorted((_key(fields) for fields in records if fields), key=_key_order)

    # -- usage -----------------------------------------------------------------------------
    async def add(self, deltas: Sequence[Usage]) -> None:
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                for delta in deltas:
                    _add_usage(pipe, self._keys.usage(delta.tenant), delta)
                if len(pipe):
                    await pipe.execute()

    async def query(
        self, tenant: str | None, since_day: str | None = None, until_day: str | None = None
    ) -> list[Usage]:
        since_day, until_day = check_day(since_day), check_day(until_day)
        if tenant is not None and not is_tenant_name(tenant):
            return []
        tenants = await self._usage_tenants() if tenant is None else [tenant]
        with _reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in tenants:
                    pipe.hgetall(self._keys.usage(name))
                totals = cast(list[RawFields], await pipe.execute())
        rows = [
            row
            for name, fields in zip(tenants, totals, strict=True)
            for row in _usage_rows(name, fields)
            if in_days(row.day, since_day, until_day)
        ]
        return sorted(rows, key=lambda u: (u.tenant, u.model, u.day))

    # -- plumbing --------------------------------------------------------------------------
    async def _tenant_names(self) -> list[str]:
        with _reachable():
            names = cast(set[bytes], await self._redis.smembers(self._keys.tenants()))
        return [name.decode() for name in names]

    async def _usage_tenants(self) -> list[str]:
        """Every tenant with usage recorded, whether or not it is (still) in the set of
        tenants (usage may be recorded with authentication off). A SCAN: its cost grows
        with the whole keyspace, which suits an admin report, not a request path."""
        head = self._keys.usage("")
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", head) + "*"  # the prefix is no glob
        with _reachable():
            found = [key async for key in self._redis.scan_iter(match=pattern, count=1000)]
        return sorted(key.decode()[len(head) :] for key in found)

    async def _key_records(self, ids: Sequence[bytes]) -> list[RawFields]:
        if not ids:
            return []
        hashes = cast(list[bytes | None], await self._redis.hmget(self._keys.api_key_ids(), ids))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key_hash in hashes:
                if key_hash is not None:
                    pipe.hgetall(self._keys.api_key(key_hash.decode()))
            return cast(list[RawFields], await pipe.execute())


def _check_known(name: str) -> None:
    if not is_tenant_name(name):
        raise UnknownTenant(name)


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """Turn Redis failures into ``QueueUnavailable`` so the gateway answers 503."""
    try:
        yield
    except REDIS_ERRORS as exc:
        message = f"the tenant store (Redis) is unreachable: {type(exc).__name__}"
        raise QueueUnavailable(message) from exc


def _add_usage(pipe: Any, key: str, delta: Usage) -> None:
    for measure in MEASURES:
        amount = getattr(delta, measure)
        if not amount:
            continue
        field = f"{delta.model}|{delta.day}|{measure}"
        if measure in _FLOAT_MEASURES:
            pipe.hincrbyfloat(key, field, amount)
        else:
            pipe.hincrby(key, field, amount)


def _usage_rows(tenant: str, fields: RawFields) -> list[Usage]:
    measures: dict[tuple[str, str], dict[str, Any]] = {}
    for field, value in fields.items():
        # split from the right: the day and the measure never contain '|'
        model, day, measure = field.decode().rsplit("|", 2)
        if measure in MEASURES:
            number = float(value) if measure in _FLOAT_MEASURES else int(value)
            measures.setdefault((model, day), {})[measure] = number
    return [Usage(tenant, model, day, **m) for (model, day), m in measures.items()]


def _pairs(flat: Sequence[bytes]) -> RawFields:
    """A Lua script's HGETALL answer (a flat list) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _float(fields: RawFields, name: bytes) -> float | None:
    value = fields.get(name)
    return float(value) if value is not None else None


def _tenant(name: str, fields: RawFields) -> Tenant:
    return Tenant(
        name,
        limits_from_json(fields[b"limits"]),
        float(fields[b"created_at"]),
        _float(fields, b"revoked_at"),
    )


def _key(fields: RawFields) -> ApiKey:
    return ApiKey(
        fields[b"id"].decode(),
        fields[b"tenant"].decode(),
        float(fields[b"created_at"]),
        fields[b"label"].decode(),
        _float(fields, b"revoked_at"),
    )


def _key_order(key: ApiKey) -> tuple[float, str]:
    return key.created_at, key.id
