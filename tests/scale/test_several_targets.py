"""``scaleserve serve A B``: the models of several targets in one service."""

from __future__ import annotations

from pathlib import Path

import httpx

from scaleserve.testing import running_service

ROOT = Path(__file__).parents[2]


async def test_one_service_serves_the_models_of_several_targets() -> None:
    targets = [ROOT / "examples" / "echo", f"{ROOT}/tests/fixtures/app.py:Double"]
    with running_service(targets) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            listed = (await client.get("/v1/models")).json()
            assert sorted(card["id"] for card in listed["data"]) == ["double", "echo"]
            echo = await client.post("/v1/models/echo/predict", json={"inputs": ["hi"]})
            double = await client.post("/v1/models/double/predict", json={"inputs": [2.5]})
            assert echo.json()["outputs"] == ["hi"]
            assert double.json()["outputs"] == [5.0]
            assert len(service.worker_pids("echo")) == 1
            assert len(service.worker_pids("double")) == 1
