"""The tenancy part as the gateway sees it: ``authenticate``, ``admit``, ``record_usage``.

``Gate`` puts the stores behind a short-lived cache of what each key resolved to, so an
authenticated request costs one keyed hash and one dict lookup, and a key revoked on any
gateway (or with the CLI) stops working everywhere within ``key_cache_ttl_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from scaleserve.errors import Forbidden, Unauthenticated
from scaleserve.observe import tracing
from scaleserve.queue.meter import metered
from scaleserve.tenancy.keys import KeyHasher, bearer_key
from scaleserve.tenancy.limits import Admission, Permit
from scaleserve.tenancy.records import ADMIN_TENANT, DEFAULT_TENANT, Limits, Tenant
from scaleserve.tenancy.store import TenantStore
from scaleserve.tenancy.usage import UsageRecorder, UsageStore

_MAX_CACHED_KEYS = 100_000
OPEN_TENANT = Tenant(DEFAULT_TENANT, Limits(), created_at=0.0)
"""Who every caller is when authentication is off."""


@dataclass
class Served:
    """What one admitted request did, filled in as it runs: which model answered (a
    fallback may stand in), and whether it failed."""

    model: str
    failed: bool = False
    tokens: int = 0
    """Tokens the model reported (or the route counted) for this request."""


class Gate:
    """Authenticates callers, admits their requests under their limits, records usage."""

    def __init__(
        self,
        store: TenantStore,
        usage_store: UsageStore,
        admission: Admission,
        usage: UsageRecorder,
        hasher: KeyHasher,
        *,
        auth: bool = True,
        key_cache_ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.usage_store = usage_store
        self.usage = usage
        self.auth = auth
        self._admission = admission
        self.hasher = hasher
        self._ttl_s = key_cache_ttl_s
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, Tenant | None]] = OrderedDict()
        self._lookups: dict[str, asyncio.Future[Tenant | None]] = {}
        self._generation = 0  # bumped by forget_keys: a lookup begun before must not be kept

    async def authenticate(self, authorization: str | None) -> Tenant:
        """The tenant owning the bearer key in ``authorization``; ``Unauthenticated`` (one
        answer for missing, malformed, unknown and revoked keys) otherwise; ``Forbidden``
        for an admin key, which opens only the admin listener."""
        if not self.auth:
            return OPEN_TENANT
        tenant = await self._owner(authorization)
        if tenant is None:
            raise Unauthenticated
        if tenant.name == ADMIN_TENANT:
            raise Forbidden("an admin key works only on the admin listener")
        return tenant

    async def authenticate_admin(self, authorization: str | None) -> None:
        """Pass only an admin key; a tenant key is ``Forbidden``, anything else
        ``Unauthenticated``. With authentication off (loopback only) everyone passes."""
        if not self.auth:
            return
        tenant = await self._owner(authorization)
        if tenant is None:
            raise Unauthenticated
        if tenant.name != ADMIN_TENANT:
            raise Forbidden("a tenant key does not open the admin listener")

    def forget_keys(self) -> None:
        """Drop what was cached about keys (after a revocation made here)."""
        self._known.clear()
        self._lookups.clear()
        self._generation += 1

    @contextlib.asynccontextmanager
    async def serving(self, tenant: Tenant, model: str, items: int) -> AsyncIterator[Served]:
        """Admit ``items`` items of ``tenant`` for ``model`` (raises ``RateLimited`` or
        ``QuotaExceeded`` before anything runs), meter the work done inside, and record it
        as the tenant's usage when the block ends, failed if it raised."""
        with tracing.span("admission", {"scaleserve.tenant": tenant.name}):
            permit = await self.admit(tenant, items)
        served = Served(model)
        try:
            with metered() as meter:
                try:
                    yield served
                except BaseException:
                    served.failed = True
                    raise
        finally:
            await self._admission.release(permit)
            self.usage.record(
                tenant.name,
                served.model,
                requests=1,
                items=items,
                errors=int(served.failed),
                compute_s=meter.compute_s,
                tokens=served.tokens,
            )

    async def admit(self, tenant: Tenant, items: int) -> Permit:
        return await self._admission.admit(tenant.name, tenant.limits, items)

    async def release(self, permit: Permit) -> None:
        await self._admission.release(permit)

    async def _owner(self, authorization: str | None) -> Tenant | None:
        key = bearer_key(authorization)
        if key is None:
            return None
        digest = self.hasher.hash(key)
        cached = self._known.get(digest)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        # one store lookup per key at a time: when a busy key's entry expires, its many
        # requests in flight wait on the same lookup instead of each sending its own
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(digest))
            self._lookups[digest] = lookup
            lookup.add_done_callback(functools.partial(self._looked_up, digest))
        return await asyncio.shield(lookup)

    def _looked_up(self, digest: str, lookup: asyncio.Future[Tenant | None]) -> None:
        if self._lookups.get(digest) is lookup:
            del self._lookups[digest]

    async def _look_up(self, digest: str) -> Tenant | None:
        now, generation = self._clock(), self._generation
        found = await self.store.find_key(digest)
        owner = None
        if found is not None and found[0].active and found[1].active:
            owner = found[1]
        if generation == self._generation:
            self._remember(digest, now + self._ttl_s, owner)
        return owner

    def _remember(self, digest: str, until: float, owner: Tenant | None) -> None:
        self._known[digest] = (until, owner)
        self._known.move_to_end(digest)
        if len(self._known) > _MAX_CACHED_KEYS:
            self._known.popitem(last=False)
