"""JSON logs (``SCALESERVE_LOG_FORMAT=json``): every line parses, each request has an access
line with its status, latency, tenant, model and request id, lines carry the trace they
were written in, and no key or payload is ever logged."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.observe import log_context
from scaleserve.observe.logs import JsonFormatter
from scaleserve.testing import Service, running_service
from tests.observe.otlp_receiver import Receiver, otlp_receiver

PROBE = f"{Path(__file__).parents[1] / 'fixtures' / 'app.py'}:Probe"
PAYLOAD_MARK = 918273645  # an input value that must never reach the log


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def service(receiver: Receiver) -> Iterator[Service]:
    env = {
        "SCALESERVE_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with running_service(PROBE, workers=1, env=env, auth=True) as service:
        yield service


def json_lines(service: Service) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]


def wait_for_line(service: Service, **fields: Any) -> dict[str, Any]:
    """The first JSON line holding ``fields``; the access line is written as the response
    goes out, so it may trail the client's read by a moment."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in json_lines(service):
            if all(line.get(k) == v for k, v in fields.items()):
                return line
        time.sleep(0.02)
    raise AssertionError(f"no log line with {fields}:\n{service.logs()[-3000:]}")


def test_every_line_is_json(service: Service) -> None:
    httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 1}]},
        headers=service.headers,
        timeout=30,
    )
    lines = [line for line in service.logs().splitlines() if line.strip()]
    keys = [line for line in lines if line.lstrip().startswith("API key")]  # none: provisioned
    assert not keys
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message", "pid"} <= record.keys()


def test_a_request_has_an_access_line_in_its_trace(service: Service) -> None:
    trace_id = secrets.token_hex(16)
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": PAYLOAD_MARK}]},
        headers={
            **service.headers,
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            "x-request-id": "client-abc.1",
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "client-abc.1"
    line = wait_for_line(service, event="access", request_id="client-abc.1")
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert line["path"] == "/v1/models/probe/predict"
    assert line["duration_ms"] > 0
    assert line["tenant"] == "default"
    assert line["model"] == "probe"
    assert line["trace_id"] == trace_id
    assert line["logger"] == "scaleserve.access"


def test_a_made_up_request_id_is_replaced(service: Service) -> None:
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 1}]},
        headers={**service.headers, "x-request-id": "no spaces or\ttabs allowed"},
        timeout=30,
    )
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert wait_for_line(service, event="access", request_id=request_id)["status"] == 200


def test_a_model_error_is_logged_by_its_worker_with_model_and_trace(service: Service) -> None:
    trace_id = secrets.token_hex(16)
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": PAYLOAD_MARK, "fail": True}]},
        headers={**service.headers, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        timeout=30,
    )
    assert response.status_code == 500
    line = wait_for_line(service, role="worker", level="error", trace_id=trace_id)
    assert line["model"] == "probe"
    assert line["version"] == "1"
    assert "asked to fail" in line["exception"]
    access = wait_for_line(service, event="access", trace_id=trace_id)
    assert access["status"] == 500


def test_an_unauthenticated_request_is_logged_without_its_key(service: Service) -> None:
    stolen = "ss_" + secrets.token_hex(20)
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict?api_key={stolen}",
        json={"inputs": [{"value": PAYLOAD_MARK}]},
        headers={"Authorization": f"Bearer {stolen}"},
        timeout=30,
    )
    assert response.status_code == 401
    line = wait_for_line(
        service, event="access", request_id=response.headers["x-request-id"], status=401
    )
    assert "tenant" not in line
    assert stolen not in service.logs()


def test_no_key_and_no_payload_in_the_log(service: Service) -> None:
    text = service.logs()
    assert service.api_key is not None
    assert service.admin_key is not None
    assert service.api_key not in text
    assert service.admin_key not in text
    assert str(PAYLOAD_MARK) not in text


def test_the_formatter_never_adds_a_records_extras() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.authorization = "Bearer secret"  # e.g. a library's extra
    token = log_context.open_request("r1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        log_context.close_request(token)
    assert line["message"] == "hello you"
    assert line["request_id"] == "r1"
    assert "authorization" not in line
