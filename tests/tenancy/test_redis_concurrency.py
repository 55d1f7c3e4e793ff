"""Many requests at once on a Redis deployment with limits: each request's admission runs
a script through the shared redis-py client, and a cold key cache sends lookups. Past the
client's pool size they wait for a connection instead of failing with 503."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.queue.backends.redis_connection import MAX_CONNECTIONS
from scaleserve.testing import Service, running_service, running_workers
from tests.helpers import delete_redis_prefix

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"
CONCURRENT = 3 * MAX_CONNECTIONS


@pytest.fixture(scope="module")
def service(redis_url: str) -> Iterator[Service]:
    env = {
        "SCALESERVE_REDIS_URL": redis_url,
        "SCALESERVE_REDIS_PREFIX": f"sstest-{uuid.uuid4().hex[:12]}",
    }
    with (
        running_workers(PROBE, args=["--workers", "1"], env=env),
        running_service(PROBE, command="api", env=env, auth=True) as gateway,
    ):
        yield gateway
    delete_redis_prefix(redis_url, env["SCALESERVE_REDIS_PREFIX"])


async def test_requests_beyond_the_pool_size_wait_for_a_connection(service: Service) -> None:
    limits = {"requests_per_s": 100_000, "max_concurrent": 10 * CONCURRENT}
    async with httpx.AsyncClient(
        base_url=service.admin_url, headers=service.admin_headers
    ) as admin:
        created = await admin.post("/admin/tenants", json={"name": "busy", "limits": limits})
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['key']['key']}"}
    connections = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(
        base_url=service.base_url, headers=headers, limits=connections, timeout=60
    ) as client:
        answers = await asyncio.gather(
            *(
                client.post("/v1/models/probe/predict", json={"inputs": [{"value": n}]})
                for n in range(CONCURRENT)
            )
        )
    codes = [a.status_code for a in answers]
    assert codes == [200] * CONCURRENT, {c: codes.count(c) for c in set(codes)}
    assert [a.json()["outputs"][0]["value"] for a in answers] == list(range(CONCURRENT))
