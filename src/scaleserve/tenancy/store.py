"""The seam between the tenancy part and where tenants and API keys are kept.

``TenantStore`` is implemented by ``backends.sqlite.SqliteTenancyStore`` (embedded; a
``":memory:"`` path is the in-memory store) and ``backends.redis.RedisTenancyStore``
(shared by every gateway). Keys are stored and found only by their keyed hash
(``keys.KeyHasher``); no store ever sees a key itself.

Tenants are never deleted, only revoked, and a revoked tenant's name is never reused, so a
key of a revoked tenant cannot come back to life under a new tenant of the same name.
The reserved owner of admin keys, ``ADMIN_TENANT``, is a tenant like the others except that
``list_tenants`` and ``count_tenants`` leave it out.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol

import orjson

from scaleserve.errors import RequestError, ScaleserveError
from scaleserve.tenancy import keys
from scaleserve.tenancy.keys import KeyHasher
from scaleserve.tenancy.records import ADMIN_TENANT, TENANT_NAME_PATTERN, ApiKey, Limits, Tenant

MAX_LABEL_CHARS = 200
KEY_DRAWS = 5  # a clash of 32-bit key ids is rare; five in a row means something is broken

_KEY_ID = re.compile(r"[0-9a-f]{8}")
_KEY_HASH = re.compile(r"[0-9a-f]{64}")
_LIMIT_FIELDS = tuple(field.name for field in dataclasses.fields(Limits))


class TenantStore(Protocol):
    """Tenants, their limits and their API keys. Methods taking ``now`` record it (unix
    seconds) as the time of the change. A store that cannot be reached raises
    ``QueueUnavailable``."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def pepper(self) -> bytes:
        """The deployment's key pepper: drawn by the first caller ever (first writer wins,
        also across processes), the same value for every caller after."""
        ...

    async def create_tenant(self, name: str, limits: Limits, now: float) -> Tenant:
        """A new active tenant. ``RequestError`` for a name that is neither
        ``TENANT_NAME_PATTERN`` nor ``ADMIN_TENANT``; ``TenantExists`` when the name was
        ever taken (revoked tenants included)."""
        ...

    async def get_tenant(self, name: str) -> Tenant | None: ...

    async def list_tenants(self) -> list[Tenant]:
        """Every tenant, revoked ones included, sorted by name; ``ADMIN_TENANT`` left out."""
        ...

    async def count_tenants(self) -> int:
        """How many tenants ``list_tenants`` would list."""
        ...

    async def set_limits(self, name: str, limits: Limits) -> Tenant:
        """Replace the tenant's limits (revoked tenants too); ``UnknownTenant``."""
        ...

    async def revoke_tenant(self, name: str, now: float) -> Tenant:
        """Revoke the tenant and every key of it, in one step; ``UnknownTenant``. Revoking
        again changes nothing (the first revocation time stays)."""
        ...

    async def add_key(
        self, tenant: str, key_id: str, key_hash: str, label: str, now: float
    ) -> ApiKey | None:
        """Record a new key of ``tenant`` (``UnknownTenant`` if it is missing or revoked).
        ``None`` when ``key_id`` (or the hash) is taken already: draw another key
        (``issue_key`` does)."""
        ...

    async def find_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        """The key stored under ``key_hash`` and its tenant, revoked or not (the caller
        decides), in one round trip; ``None`` when no key has that hash."""
        ...

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        """Revoke one key; ``RequestError`` when there is no key of that id. Revoking again
        changes nothing."""
        ...

    async def list_keys(self, tenant: str) -> list[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first; ``UnknownTenant``."""
        ...


async def issue_key(
    store: TenantStore, hasher: KeyHasher, tenant: str, label: str, now: float
) -> tuple[ApiKey, str]:
    """Draw a new key for ``tenant`` and record its hash: ``(record, plaintext)``. The
    plaintext exists only in the returned value; show it once."""
    for _ in range(KEY_DRAWS):
        key_id, plaintext = keys.new_key()
        record = await store.add_key(tenant, key_id, hasher.hash(plaintext), label, now)
        if record is not None:
            return record, plaintext
    raise ScaleserveError(f"{KEY_DRAWS} new API key ids in a row were taken already")


def is_tenant_name(name: str) -> bool:
    """Whether a tenant may have ``name``. Stores answer "no such tenant" for any other
    name without looking: in Redis, a name with ``:`` could address another record."""
    # fullmatch, not match: the pattern's ``$`` would let a trailing newline through
    return name == ADMIN_TENANT or TENANT_NAME_PATTERN.fullmatch(name) is not None


def check_tenant_name(name: str) -> str:
    """``name`` if a tenant may have it, else ``RequestError``."""
    if not is_tenant_name(name):
        raise RequestError(
            f"invalid tenant name {name[:64]!r}: use 1 to 64 characters of a-z, 0-9, '.', "
            "'_' and '-', starting with a letter or digit"
        )
    return name


def is_key_hash(text: str) -> bool:
    """Whether ``text`` has the shape of ``KeyHasher.hash``'s answer."""
    return _KEY_HASH.fullmatch(text) is not None


def check_new_key(key_id: str, key_hash: str, label: str) -> None:
    """Refuse a key record that ``issue_key`` would never produce."""
    if _KEY_ID.fullmatch(key_id) is None or not is_key_hash(key_hash):
        raise ValueError("a key id is 8 lowercase hex characters and its hash 64")
    if len(label) > MAX_LABEL_CHARS:
        raise RequestError(f"a key label has at most {MAX_LABEL_CHARS} characters")


def unknown_key(key_id: str) -> RequestError:
    return RequestError(f"no API key {key_id[:64]!r}")


def limits_json(limits: Limits) -> bytes:
    """``limits`` as a JSON object of all its fields (``null`` = unlimited)."""
    return orjson.dumps(dataclasses.asdict(limits))


def limits_from_json(raw: bytes | str) -> Limits:
    """The inverse of ``limits_json``; fields it does not know are ignored."""
    data: dict[str, Any] = orjson.loads(raw)
    return Limits(**{name: data.get(name) for name in _LIMIT_FIELDS})
