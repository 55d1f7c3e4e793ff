"""Fixtures of the tests that run scaleserve as real processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def deployment(redis_url: str, redis: Redis) -> AsyncIterator[dict[str, str]]:
    """Environment of an isolated deployment (its own key prefix) with fast reclaims; its
    keys are deleted afterwards."""
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    yield {
        "SCALESERVE_REDIS_URL": redis_url,
        "SCALESERVE_REDIS_PREFIX": prefix,
        "SCALESERVE_CLAIM_IDLE_S": "1",
    }
    stale = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    for at in range(0, len(stale), 1000):
        await redis.delete(*stale[at : at + 1000])
