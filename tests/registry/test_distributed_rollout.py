"""Registry models on several machines: two gateways and a worker host on Redis, the
registry in PostgreSQL. A swap reaches every gateway within a second; jobs go to the
version that serves their tenant."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from scaleserve.registry.backends.local_blobs import LocalBlobStore
from scaleserve.registry.backends.postgres import PostgresRegistryStore
from scaleserve.registry.registry import Registry
from scaleserve.testing import running_service, running_workers
from tests.registry.service_helpers import register_scaler


@contextlib.asynccontextmanager
async def pg_registry(url: str, schema: str, artifacts: Path) -> AsyncIterator[Registry]:
    store = PostgresRegistryStore(url, schema)
    await store.open()
    try:
        yield Registry(store, LocalBlobStore(artifacts))
    finally:
        await store.close()


async def _versions_seen(client: httpx.AsyncClient, seen: list[tuple[float, str]]) -> None:
    while True:
        response = await client.post("/v1/models/scaler/predict", json={"inputs": [1.0]})
        assert response.status_code == 200, response.text
        seen.append((time.time(), response.headers["x-model-version"]))


async def test_every_gateway_serves_the_new_version_within_a_second_of_the_swap(
    tmp_path: Path, deployment: dict[str, str], pg_url: str, pg_schema: str
) -> None:
    env = {
        **deployment,
        "SCALESERVE_REGISTRY_URL": pg_url,
        "SCALESERVE_REGISTRY_SCHEMA": pg_schema,
        "SCALESERVE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
        "SCALESERVE_ROLLOUT_TICK_S": "0.05",
    }
    async with pg_registry(pg_url, pg_schema, tmp_path / "artifacts") as registry:
        await register_scaler(registry, tmp_path, factor=1)
        await register_scaler(registry, tmp_path, factor=2)

        def host(name: str) -> dict[str, str]:  # each machine has its own artifact cache
            return {**env, "SCALESERVE_ARTIFACT_CACHE": str(tmp_path / name)}

        with (
            running_workers("models:/scaler", env=host("worker-host")),
            running_service("models:/scaler", command="api", env=host("gateway-a")) as first,
            running_service("models:/scaler", command="api", env=host("gateway-b")) as second,
        ):
            async with (
                httpx.AsyncClient(base_url=first.base_url, timeout=30) as a,
                httpx.AsyncClient(base_url=second.base_url, timeout=30) as b,
                httpx.AsyncClient(base_url=first.admin_url, timeout=120) as admin,
            ):
                seen_a: list[tuple[float, str]] = []
                seen_b: list[tuple[float, str]] = []
                watchers = [
                    asyncio.create_task(_versions_seen(a, seen_a)),
                    asyncio.create_task(_versions_seen(b, seen_b)),
                ]
                try:
                    moved = await admin.put(
                        "/admin/models/scaler/aliases/production", json={"version": "2"}
                    )
                    assert moved.status_code == 200, moved.text
                    await asyncio.sleep(1.5)  # watch both gateways past the deadline
                finally:
                    for task in watchers:
                        task.cancel()
                    await asyncio.gather(*watchers, return_exceptions=True)

                job = await b.post(
                    "/v1/jobs",
                    json={"model": "scaler", "inputs": [3.0]},
                    headers={"Prefer": "wait=30"},
                )
                assert job.status_code == 201, job.text
                assert job.json()["outputs"][0]["value"] == 6.0  # version 2 ran it

        [swapped] = [e for e in await registry.history("scaler") if e.action == "swapped"]
    for seen in (seen_a, seen_b):
        assert [v for _, v in seen][:1] == ["1"]
        first_new = next(at for at, version in seen if version == "2")
        delay_ms = 1000 * (first_new - swapped.at)
        print(f"a gateway answered at version 2 {delay_ms:.0f} ms after the swap")
        assert first_new - swapped.at < 1.0, f"{first_new - swapped.at:.3f}s after the swap"
        assert all(version == "2" for at, version in seen if at > swapped.at + 1.0)
