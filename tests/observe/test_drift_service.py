"""Drift monitoring in a real service: the first traffic becomes the reference, a shift
raises an alert seen in the admin API, the metrics and the log, and a reference can be
downloaded, set and captured anew."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service
from tests.helpers import metric_value

METER = f"{Path(__file__).parents[1] / 'fixtures' / 'drift_app.py'}:Meter"


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(METER, workers=1, auth=True) as service:
        yield service


def send(service: Service, mean: float, items: int, rng: random.Random) -> None:
    for _ in range(items // 20):
        inputs = [{"x": rng.gauss(mean, 1), "label": rng.choice("ab")} for _ in range(20)]
        response = httpx.post(
            f"{service.base_url}/v1/models/meter/predict",
            json={"inputs": inputs},
            headers=service.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text


def report(service: Service) -> dict[str, Any]:
    response = httpx.get(f"{service.admin_url}/admin/drift", headers=service.admin_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_shift_raises_an_alert(service: Service) -> None:
    rng = random.Random(1)
    send(service, 0.0, 400, rng)  # the reference, then a recent window like it
    [monitor] = report(service)["monitors"]
    assert monitor["model"] == "meter"
    assert monitor["version"] == "1"
    assert monitor["has_reference"]
    assert not report(service)["alerts"]
    deadline = time.monotonic() + 30
    while not report(service)["alerts"]:  # scores are checked once a second as items come
        assert time.monotonic() < deadline, report(service)
        send(service, 3.0, 100, rng)
    alerts = report(service)["alerts"]
    assert {"input.x", "output.score"} & {alert["feature"] for alert in alerts}
    metrics = httpx.get(f"{service.admin_url}/metrics", headers=service.admin_headers).text
    assert metric_value(metrics, "scaleserve_drift_firing", model="meter", version="1") >= 1
    assert metric_value(metrics, "scaleserve_drift_score", model="meter", feature="input.x") > 0
    assert "drift: meter 1 " in service.logs()


def test_a_reference_can_be_downloaded_set_and_captured(service: Service) -> None:
    base = f"{service.admin_url}/admin/drift/meter/1"
    reference = httpx.get(f"{base}/reference", headers=service.admin_headers)
    assert reference.status_code == 200
    assert reference.headers["content-type"] == "application/octet-stream"
    put = httpx.put(
        f"{base}/reference",
        content=reference.content,
        headers={**service.admin_headers, "content-type": "application/octet-stream"},
    )
    assert put.status_code == 204, put.text
    bad = httpx.put(
        f"{base}/reference",
        content=b"not a summary",
        headers={**service.admin_headers, "content-type": "application/octet-stream"},
    )
    assert bad.status_code == 400
    assert bad.json()["status"] == 400
    captured = httpx.post(f"{base}/capture", headers=service.admin_headers)
    assert captured.status_code == 202
    assert captured.json()["capturing"] is True


def test_unknown_versions_and_tenants_are_refused(service: Service) -> None:
    missing = httpx.get(
        f"{service.admin_url}/admin/drift/meter/9/reference", headers=service.admin_headers
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_model"
    tenant = httpx.get(f"{service.admin_url}/admin/drift", headers=service.headers)
    assert tenant.status_code == 403
