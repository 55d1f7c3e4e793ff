from __future__ import annotations

import httpx
import pytest

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


ALWAYS_EXPORTED = {
    "scaleserve_requests_total",
    "scaleserve_request_duration_seconds",
    "scaleserve_request_items_total",
    "scaleserve_in_flight_requests",
    "scaleserve_items_total",
    "scaleserve_batch_size",
    "scaleserve_batch_fill_ratio",
    "scaleserve_inference_duration_seconds",
    "scaleserve_queue_wait_seconds",
    "scaleserve_queue_depth",
    "scaleserve_queue_queued",
    "scaleserve_workers_ready",
    "scaleserve_workers_desired",
    "scaleserve_workers_current",
    "scaleserve_slo_latency_seconds",
    "scaleserve_slo_availability_ratio",
}


async def test_the_service_exports_what_the_dashboard_and_rules_use(
    client: httpx.AsyncClient,
) -> None:
    """The shipped dashboard and alerting rules are checked against ``EXPORTED_METRICS``;
    this checks the list against a real service's ``/metrics``: names, types and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.observe.test_monitoring import EXPORTED_METRICS

    await client.post("/v1/models/double/predict", json={"inputs": [1.0]})
    families = {
        family.name: family
        for family in text_string_to_metric_families((await client.get("/metrics")).text)
    }
    expected = {name: (kind, labels) for name, kind, labels in EXPORTED_METRICS}
    for name in ALWAYS_EXPORTED:
        family = families[name.removesuffix("_total")]
        kind, labels = expected[name]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(labels), (name, sample.labels)
    assert metric_value(
        (await client.get("/metrics")).text, "scaleserve_slo_latency_seconds", model="double"
    ) == pytest.approx(0.25)
