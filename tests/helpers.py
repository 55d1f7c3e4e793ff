"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from redis import Redis


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    """Let the event loop turn until ``condition()`` holds (state owned by in-loop objects)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state has no event to await; poll per loop turn
            await asyncio.sleep(0)


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels`` (whatever their other labels) in
    Prometheus text; 0 when there is none."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


async def wait_for_metric(
    client: httpx.AsyncClient,
    name: str,
    at_least: float,
    timeout_s: float = 30,
    headers: dict[str, str] | None = None,
    **labels: str,
) -> float:
    """Poll ``/metrics`` (sending ``headers``) until the sample reaches ``at_least``."""
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.get("/metrics", headers=headers)
            value = metric_value(response.text, name, **labels)
            if value >= at_least:
                return value
            await asyncio.sleep(0.02)


def delete_redis_prefix(url: str, prefix: str) -> None:
    """Delete every key of a test deployment (``<prefix>:*``) from the Redis at ``url``."""
    client = Redis.from_url(url)
    try:
        stale = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for at in range(0, len(stale), 1000):
            client.delete(*stale[at : at + 1000])
    finally:
        client.close()
