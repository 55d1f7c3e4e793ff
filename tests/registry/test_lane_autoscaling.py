"""A registry version's lane scales by its own class's ``autoscale``, as a served file's
model does: its workers grow under load and the autoscaler says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from scaleserve.testing import embedded_registry
from tests.helpers import metric_value
from tests.registry.service_helpers import registry_service

SLEEPER = str(Path(__file__).parents[1] / "fixtures" / "autoscale_app.py") + ":Sleeper"


async def _lane_workers(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return metric_value(text, "scaleserve_workers_current", model="sleeper", version="1")


async def test_a_versions_lane_scales_up_under_load(tmp_path: Path) -> None:
    async with embedded_registry(tmp_path) as registry:
        await registry.register("sleeper", model_class=SLEEPER)
    with registry_service(tmp_path, "sleeper") as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            assert await _lane_workers(client) == 1
            loop = asyncio.get_running_loop()
            start, sent, most = loop.time(), [], 1.0
            while loop.time() - start < 8 and most < 2:
                sent.append(asyncio.create_task(
                    client.post("/v1/models/sleeper/predict", json={"inputs": [1.0]})
                ))  # fmt: skip
                # the pace of an open-loop load of 150 requests/s, not a wait for an event
                await asyncio.sleep(max(0.0, start + len(sent) / 150 - loop.time()))
                if len(sent) % 25 == 0:
                    most = max(most, await _lane_workers(client))
            statuses = [(await task).status_code for task in sent]
        log = service.logs()
    assert set(statuses) == {200}
    assert most >= 2, log[-3000:]
    assert "autoscale sleeper@1: 1 ->" in log
