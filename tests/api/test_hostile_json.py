"""Hostile JSON on every route that takes a body: each gets a 4xx with a JSON error that
names the problem, quickly; never a 500, never a hang. And what is accepted reaches the
model exactly as it was sent.

The rules (``scaleserve.api.body``): strict RFC 8259 (no NaN or Infinity, UTF-8 without
lone surrogates), at most 64 nested arrays and objects, integers in the signed 64-bit
range, finite floats; of duplicate keys the last one wins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scaleserve.api.admin import MAX_BODY_BYTES as ADMIN_LIMIT_BYTES
from scaleserve.api.body import JSON_LIMITS
from scaleserve.settings import GatewaySettings
from scaleserve.testing import Service, running_service
from tests.api.hostile import error_code, error_message

FUZZ_APP = Path(__file__).with_name("fuzz_app.py")
TIMEOUT_S = 10.0
MAX_DEPTH = JSON_LIMITS.max_depth

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Route:
    """A route and where in its body one JSON value goes, nested ``depth`` deep there."""

    name: str
    path: str
    wrap: Callable[[bytes], bytes]
    depth: int
    admin: bool = False

    @property
    def limit_bytes(self) -> int:
        return ADMIN_LIMIT_BYTES if self.admin else GatewaySettings.max_body_bytes


def _tensor(value: bytes) -> bytes:
    return b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [%s]}]}' % (
        value
    )


ROUTES = [
    Route("predict", "/v1/models/echo/predict", lambda v: b'{"inputs": [%s]}' % v, 2),
    Route("stream", "/v1/models/ticker/stream", lambda v: b'{"input": {"count": %s}}' % v, 2),
    Route("jobs", "/v1/jobs", lambda v: b'{"model": "echo", "inputs": [%s]}' % v, 2),
    Route("embeddings", "/v1/embeddings", lambda v: b'{"model": "vectors", "input": %s}' % v, 1),
    Route("oip", "/v2/models/echo/infer", _tensor, 4),
    Route("admin", "/admin/tenants/default/limits", lambda v: b'{"daily_items": %s}' % v, 1, True),
]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES = {
    "100k nested arrays": (nested(100_000), "json_limit_exceeded"),
    "100k nested objects": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "json_limit_exceeded"),
    "a million-digit integer": (b"9" * 1_000_000, "json_limit_exceeded"),
    "2**63": (str(2**63).encode(), "json_limit_exceeded"),
    "-2**63 - 1": (str(-(2**63) - 1).encode(), "json_limit_exceeded"),
    "1e999": (b"1e999", "json_limit_exceeded"),
    "-1e999": (b"-1e999", "json_limit_exceeded"),
    "NaN": (b"NaN", "malformed_json"),
    "Infinity": (b"Infinity", "malformed_json"),
    "-Infinity": (b"-Infinity", "malformed_json"),
    "invalid UTF-8": (b'"\xff\xfe"', "malformed_json"),
    "a lone surrogate": (b'"\\ud800"', "malformed_json"),
    "an unterminated string": (b'"abc', "malformed_json"),
    "a trailing comma": (b"[1,]", "malformed_json"),
}


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(FUZZ_APP, auth=True) as running:
        yield running


def post(service: Service, route: Route, body: bytes) -> httpx.Response:
    url = (service.admin_url if route.admin else service.base_url) + route.path
    headers = {**(service.admin_headers if route.admin else service.headers)}
    method = "PUT" if route.admin else "POST"
    headers["content-type"] = "application/json"
    return httpx.request(method, url, content=body, headers=headers, timeout=TIMEOUT_S)


def assert_json_error(response: httpx.Response, status: int, code: str | None) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].split(";")[0] in (
        "application/json",
        "application/problem+json",
    )
    assert error_code(response) in (code, None), response.text[:300]


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
@pytest.mark.parametrize("case", CASES)
def test_hostile_json_is_a_clear_400(service: Service, route: Route, case: str) -> None:
    value, code = CASES[case]
    body = route.wrap(value)
    started = time.perf_counter()
    response = post(service, route, body)
    assert time.perf_counter() - started < 2
    if len(body) > route.limit_bytes:  # the admin listener's limit is 64 KiB
        assert_json_error(response, 413, "body_too_large")
    else:
        assert_json_error(response, 400, code)


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_nesting_is_refused_one_level_past_the_limit_only(service: Service, route: Route) -> None:
    """At the limit a document is taken (whatever its types say of it); one deeper is not."""
    at_limit = post(service, route, route.wrap(nested(MAX_DEPTH - route.depth)))
    assert at_limit.status_code < 500
    assert at_limit.is_success or "deep" not in error_message(at_limit), at_limit.text
    over = post(service, route, route.wrap(nested(MAX_DEPTH - route.depth + 1)))
    assert_json_error(over, 400, "json_limit_exceeded")
    assert f"over {MAX_DEPTH} deep" in error_message(over)


def test_what_is_taken_reaches_the_model_exactly(service: Service) -> None:
    deepest = nested(MAX_DEPTH - 2).decode()
    edge_ints = f"[{2**63 - 1}, {-(2**63)}, 1e308, -0.0, 5e-324]"
    body = '{"inputs": [' + deepest + ", " + edge_ints + ', "\\u0000\\ud83d\\ude00"]}'
    response = post(service, ROUTES[0], body.encode())
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == json.loads(body)["inputs"]


def test_a_job_keeps_64_bit_integers_exact(service: Service) -> None:
    """The job path stores inputs and re-reads them with another parser: the integers it
    takes are ones that parser reads exactly."""
    edge = [2**63 - 1, -(2**63)]
    with httpx.Client(base_url=service.base_url, headers=service.headers) as http:
        job = http.post("/v1/jobs", json={"model": "echo", "inputs": [edge]}).json()
        with http.stream("GET", f"/v1/jobs/{job['id']}/events", timeout=TIMEOUT_S) as events:
            for line in events.iter_lines():
                if line == "event: succeeded":
                    break
        done = http.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["outputs"] == [edge]


def test_of_duplicate_keys_the_last_wins_and_the_model_sees_that(service: Service) -> None:
    response = post(service, ROUTES[0], b'{"inputs": [{"k": 1, "k": 2}], "inputs": [{"k": 3}]}')
    assert response.status_code == 200 and response.json()["outputs"] == [{"k": 3}]
    order = (
        b'{"inputs": [{"customer": {"name": "a", "name": "b"}, '
        b'"lines": [{"sku": "x", "quantity": 0, "quantity": 2}]}]}'
    )
    priced = post(service, Route("orders", "/v1/models/orders/predict", lambda v: v, 0), order)
    assert priced.status_code == 200, priced.text
    assert priced.json()["outputs"] == [{"customer": "b", "units": 2, "price": 2.0}]


WRONG_TYPES = [
    ("/v1/models/orders/predict", b'{"inputs": [{"customer": [], "lines": "many"}]}', 422),
    ("/v1/models/orders/predict", b'{"inputs": [{"customer": {"name": 1}, "lines": [{}]}]}', 422),
    ("/v1/models/orders/predict", b'{"inputs": "x"}', 422),
    ("/v1/models/echo/predict", b'"just a string"', 422),
    ("/v1/models/echo/predict", b"null", 422),
    ("/v1/models/ticker/stream", b'{"input": {"count": "three"}}', 422),
    ("/v1/models/ticker/stream", b'{"input": {"count": 1.5}}', 422),
    ("/v1/jobs", b'{"model": ["echo"], "inputs": [1]}', 422),
    ("/v1/jobs", b'{"model": "echo", "inputs": [1], "deadline_s": "soon"}', 422),
    ("/v1/embeddings", b'{"model": "vectors", "input": [1, 2]}', 400),
    ("/v1/chat/completions", b'{"model": "writer", "messages": "hi"}', 400),
    ("/v2/models/echo/infer", b'{"inputs": [{"name": 1, "shape": "x"}]}', 400),
    ("/v2/models/echo/infer", b'{"inputs": [{"name": "in", "shape": [-1], "datatype": 5}]}', 400),
]


@pytest.mark.parametrize(("path", "body", "status"), WRONG_TYPES)
def test_wrong_types_are_4xx_naming_the_field(
    service: Service, path: str, body: bytes, status: int
) -> None:
    response = post(service, Route(path, path, lambda v: v, 0), body)
    assert_json_error(response, status, "invalid_input")
