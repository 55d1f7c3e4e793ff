"""Settings of the result cache that belong to the deployment, not to a model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CacheSettings:
    memory_tier: bool = True
    """Keep each cached model's recent outputs in the gateway's memory (the first tier); off
    leaves Redis as the only tier (``SCALESERVE_CACHE_MEMORY_TIER``)."""
    redis_timeout_s: float = 0.5
    """Longest a cache lookup waits for Redis before it counts as a miss
    (``SCALESERVE_CACHE_REDIS_TIMEOUT_S``)."""
