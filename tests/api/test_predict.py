"""Predict through a real gateway and real worker processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import wait_for_metric

PROBE = "/v1/models/probe/predict"


async def test_outputs_match_inputs_in_order_across_batches(client: httpx.AsyncClient) -> None:
    values = list(range(20))  # more than max_batch_size (8): the request spans batches
    response = await client.post(PROBE, json={"inputs": [{"value": v} for v in values]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "probe" and body["version"] == "1"
    assert [o["value"] for o in body["outputs"]] == values
    assert max(o["batch_size"] for o in body["outputs"]) <= 8


async def test_concurrent_requests_are_batched_together(client: httpx.AsyncClient) -> None:
    async def one(value: int) -> int:
        response = await client.post(PROBE, json={"inputs": [{"value": value, "sleep_ms": 30}]})
        assert response.status_code == 200
        output = response.json()["outputs"][0]
        assert output["value"] == value
        return int(output["batch_size"])

    sizes = await asyncio.gather(*(one(v) for v in range(32)))
    assert max(sizes) > 1, f"32 concurrent requests never shared a batch: {sizes}"


async def test_several_models_each_with_their_own_settings(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/double/predict", json={"inputs": [1, 2.5, -3]})
    assert response.status_code == 200
    assert response.json()["outputs"] == [2, 5.0, -6]
    models = (await client.get("/v1/models")).json()["data"]
    by_id = {m["id"]: m for m in models}
    assert by_id["double"]["max_batch_size"] == 4 and by_id["probe"]["max_batch_size"] == 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [{"value": "not a number"}]}, ["body", "inputs", 0, "value"]),
        ({"inputs": [{"value": 1}, {}]}, ["body", "inputs", 1, "value"]),
        ({"inputs": []}, ["body", "inputs"]),
        ({"input": [{"value": 1}]}, ["body", "inputs"]),
        ({"inputs": [{"value": 1}], "extra": True}, ["body", "extra"]),
        ({"inputs": {"value": 1}}, ["body", "inputs"]),
        ([1, 2], ["body"]),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    client: httpx.AsyncClient, body: object, field: list[object]
) -> None:
    response = await client.post(PROBE, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_input" and problem["status"] == 422
    assert field in [e["loc"] for e in problem["errors"]]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PROBE, content=b'{"inputs": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_invalid_utf8_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(PROBE, content=b'{"inputs": ["\xff\xfe"]}')
    assert response.status_code == 400


async def test_non_json_media_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PROBE, content=b"\x80\x04K\x01.", headers={"content-type": "application/x-pickle"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/nope/predict", json={"inputs": [1]})
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_model"
    assert (await client.get("/v1/models/nope")).status_code == 404


async def test_too_many_items_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(PROBE, json={"inputs": [{"value": 1}] * 1025})
    assert response.status_code == 422


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"inputs": ["' + b"x" * (17 * 1024 * 1024) + b'"]}'
    response = await client.post("/v1/models/double/predict", content=big)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_model_error_is_500_naming_it_and_the_worker_keeps_serving(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post(PROBE, json={"inputs": [{"value": 1}]})
    failed = await client.post(PROBE, json={"inputs": [{"value": 2, "fail": True}]})
    assert failed.status_code == 500
    problem = failed.json()
    assert problem["code"] == "model_error"
    assert "ValueError: asked to fail" in problem["detail"]
    after = await client.post(PROBE, json={"inputs": [{"value": 3}]})
    assert after.status_code == 200
    assert after.json()["outputs"][0]["pid"] == first.json()["outputs"][0]["pid"]


@pytest.mark.parametrize("body", [["short"], ["long"]])
async def test_wrong_outputs_are_a_model_error(client: httpx.AsyncClient, body: list[str]) -> None:
    response = await client.post("/v1/models/liar/predict", json={"inputs": body})
    assert response.status_code == 500
    assert response.json()["code"] == "model_error"


async def test_deadline_gives_504(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PROBE,
        json={"inputs": [{"value": 1, "sleep_ms": 2000}]},
        headers={"x-request-timeout": "0.2"},
    )
    assert response.status_code == 504
    assert response.json()["code"] == "deadline_exceeded"


@pytest.mark.parametrize("value", ["soon", "-1", "0", "inf", "nan"])
async def test_bad_timeout_header_is_400(client: httpx.AsyncClient, value: str) -> None:
    response = await client.post(
        PROBE, json={"inputs": [{"value": 1}]}, headers={"x-request-timeout": value}
    )
    assert response.status_code == 400


async def test_overload_is_refused_with_503_and_retry_after(client: httpx.AsyncClient) -> None:
    url = "/v1/models/narrow/predict"
    slow = [asyncio.create_task(client.post(url, json={"inputs": [500]})) for _ in range(2)]
    await wait_for_metric(client, "scaleserve_queue_depth", 2, model="narrow")
    refused = await client.post(url, json={"inputs": [0]})
    assert refused.status_code == 503
    assert refused.json()["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]


async def test_openapi_describes_each_model(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/models/probe/predict"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request_schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert request_schema["properties"]["inputs"]["items"]["$ref"].endswith("/ProbeInput")
    assert "422" in operation["responses"] and "503" in operation["responses"]
    assert "/v1/models/double/predict" in document["paths"]
