from __future__ import annotations

import httpx

from scaleserve.testing import Service


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "models": {"probe": 1, "double": 1, "narrow": 1, "liar": 1},
    }


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/probe/predict")
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_each_model_has_its_own_worker(service: Service) -> None:
    assert len(service.worker_pids("probe")) == 1
    assert len(service.worker_pids()) == 4
