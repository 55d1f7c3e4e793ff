"""Settings of the tenancy part."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TenancySettings:
    auth: bool = True
    """Require an API key on every route but health and docs; off only with ``--no-auth``."""
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None
    """The admin listener's port; ``None``: the gateway's port + 1."""
    key_cache_ttl_s: float = 2.0
    """How long a gateway trusts what it read about a key: a revoked key stops working
    within this time on every gateway."""
    usage_flush_interval_s: float = 1.0
    key_pepper: str | None = None
    """The secret API keys are hashed with; by default one is created and kept with the
    tenants (a file next to the embedded database, or in Redis)."""
