"""The shapes of the tenancy part: tenants, their limits, their API keys, their usage."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TENANT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DEFAULT_TENANT = "default"
ADMIN_TENANT = "_admin"
"""The reserved owner of admin keys: they open the admin listener and nothing else. No
tenant can take this name (it does not match ``TENANT_NAME_PATTERN``)."""


@dataclass(frozen=True)
class Limits:
    """A tenant's limits; ``None`` means unlimited.

    Rates are token buckets: ``*_per_s`` refills, ``*_burst`` is the bucket's size (default:
    one second's worth, at least 1). Daily quotas reset at 00:00 UTC. ``max_concurrent``
    caps the tenant's requests in flight at once.
    """

    requests_per_s: float | None = None
    requests_burst: int | None = None
    items_per_s: float | None = None
    items_burst: int | None = None
    daily_requests: int | None = None
    daily_items: int | None = None
    max_concurrent: int | None = None

    @functools.cached_property
    def unlimited(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class Tenant:
    name: str
    limits: Limits
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: never the key itself, only its id (safe to show) and owner."""

    id: str
    tenant: str
    created_at: float
    label: str = ""
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Usage:
    """What a tenant used of one model on one day (UTC, ``YYYY-MM-DD``), or a sum of such."""

    tenant: str
    model: str
    day: str
    requests: int = 0
    items: int = 0
    errors: int = 0
    compute_s: float = 0.0
    tokens: int = 0
