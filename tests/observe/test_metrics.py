from __future__ import annotations

import httpx

from tests.helpers import metric_value


async def test_metrics_add_up_gateway_and_worker_processes(client: httpx.AsyncClient) -> None:
    before = metric_value(
        (await client.get("/metrics")).text, "scaleserve_requests_total", model="double", code="200"
    )
    for _ in range(3):
        assert (
            await client.post("/v1/models/double/predict", json={"inputs": [1, 2]})
        ).status_code == 200
    await client.post("/v1/models/double/predict", json={"inputs": ["x"]})
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # gateway-side counters and histograms
    assert metric_value(text, "scaleserve_requests_total", model="double", code="200") == before + 3
    assert metric_value(text, "scaleserve_requests_total", model="double", code="422") >= 1
    assert (
        metric_value(text, "scaleserve_request_duration_seconds_count", model="double", code="200")
        >= 3
    )
    # worker-side histograms, recorded in another process
    assert metric_value(text, "scaleserve_batch_size_count", model="double") >= 3
    assert metric_value(text, "scaleserve_inference_duration_seconds_count", model="double") >= 3
    assert metric_value(text, "scaleserve_items_total", model="double", outcome="ok") >= 6
    # live gauges read at scrape time
    assert metric_value(text, "scaleserve_workers_ready", model="double") == 1
    assert metric_value(text, "scaleserve_queue_depth", model="double", version="1") == 0
    assert 'scaleserve_queue_depth{model="double",version="1"}' in text


async def test_requests_are_counted_per_version_and_tenant(client: httpx.AsyncClient) -> None:
    labels = {"model": "double", "version": "1", "tenant": "default"}
    text = (await client.get("/metrics")).text
    before = metric_value(text, "scaleserve_request_items_total", **labels)
    assert (
        await client.post("/v1/models/double/predict", json={"inputs": [1, 2, 3]})
    ).status_code == 200
    text = (await client.get("/metrics")).text
    assert metric_value(text, "scaleserve_requests_total", **labels, code="200") >= 1
    assert metric_value(text, "scaleserve_request_items_total", **labels) == before + 3
    assert metric_value(text, "scaleserve_batch_fill_ratio_count", model="double", version="1") >= 1
    assert 'scaleserve_in_flight_requests{model="double"} 0.0' in text
