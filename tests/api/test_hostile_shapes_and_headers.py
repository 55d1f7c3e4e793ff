"""Requests that are well-formed but hostile in what they claim: tensor shapes that promise
far more than they hold, and numeric headers that are not numbers. Each is a quick 4xx (or
is ignored, where the header is only a hint), never a 500, and never a gateway busy for
seconds on one small request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service

FUZZ_APP = Path(__file__).with_name("fuzz_app.py")
TIMEOUT_S = 10.0
QUICK_S = 1.0

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(FUZZ_APP, auth=True) as running:
        yield running


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers=service.headers) as client:
        yield client


def infer(http: httpx.Client, model: str, shape: list[int], data: list[Any]) -> httpx.Response:
    tensor = {"name": "input", "shape": shape, "datatype": "FP32", "data": data}
    started = time.perf_counter()
    response = http.post(f"/v2/models/{model}/infer", json={"inputs": [tensor]}, timeout=TIMEOUT_S)
    assert time.perf_counter() - started < QUICK_S
    return response


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ([10**8, 0], "over the limit of 1024"),  # 10**8 empty rows, in a 100-byte body
        ([1, 10**8, 0], "rows it cannot fill"),
        ([1, 10**8, 0, 5], "rows it cannot fill"),
        ([2**62] * 100_000, "at most 16"),  # the product of 100,000 big numbers takes seconds
    ],
)
def test_a_shape_that_promises_more_than_it_holds_is_a_quick_400(
    http: httpx.Client, shape: list[int], says: str
) -> None:
    response = infer(http, "norm", shape, [])
    assert response.status_code == 400 and says in response.json()["error"]


def test_honest_shapes_still_work(http: httpx.Client) -> None:
    two = infer(http, "norm", [2, 2], [3, 4, 6, 8])
    assert two.status_code == 200 and two.json()["outputs"][0]["data"] == [5.0, 10.0]
    empty = infer(http, "norm", [3, 0], [])  # three empty vectors are three items
    assert empty.status_code == 200 and empty.json()["outputs"][0]["data"] == [0.0] * 3


def test_a_batch_over_the_models_limit_is_refused_before_it_is_built(http: httpx.Client) -> None:
    response = infer(http, "echo", [1025], [1.0] * 1025)
    assert response.status_code == 400 and "over the limit of 1024" in response.json()["error"]


NOT_NUMBERS = [b"\xb2", b"\xb9", b"9" * 5000, b"-1", b"1e3", b"0x10"]
"""'²' and '¹' are Latin-1 header bytes that ``str.isdigit`` takes and ``int`` refuses;
5000 digits are more than ``int`` converts."""


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_a_binary_header_length_that_is_not_a_number_is_400(
    http: httpx.Client, value: bytes
) -> None:
    body = b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}'
    response = http.post(
        "/v2/models/echo/infer",
        content=body,
        headers={"Inference-Header-Content-Length": value, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "does not fit" in response.json()["error"]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_a_last_event_id_that_is_not_a_number_replays_from_the_start(
    http: httpx.Client, value: bytes
) -> None:
    job = http.post("/v1/jobs", json={"model": "echo", "inputs": ["x"]}).json()
    events = f"/v1/jobs/{job['id']}/events"
    with http.stream("GET", events, headers={"Last-Event-ID": value}, timeout=TIMEOUT_S) as sse:
        assert sse.status_code == 200
        first = next(line for line in sse.iter_lines() if line.startswith("id: "))
    assert first == "id: 1"
