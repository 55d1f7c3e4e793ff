"""Fixtures of the cache tests: a real service of the cache fixture models, and key
prefixes of their own in the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from scaleserve.testing import Service, running_service

CACHE_APP = Path(__file__).parent / "app.py"


@pytest.fixture(scope="module")
def cache_service() -> Iterator[Service]:
    """A service of the cache fixture models, for tests that do not harm it."""
    with running_service(CACHE_APP) as running:
        yield running


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A deployment prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        left = list(client.scan_iter(match=prefix + ":*"))
        if left:
            client.delete(*left)


@pytest.fixture
async def cached(cache_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cache_service.base_url, timeout=60) as http:
        yield http
