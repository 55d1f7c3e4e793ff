"""Bodies refused for their size or their media type, on every route that takes a body:
as soon as the headers or the limit tell, in the route's own error shape, with the gateway's
memory bounded by the limit, never by what the client sends. A pickle is never loaded.

(After answering, uvicorn reads and drops the rest of a refused body so that the client,
still sending, gets to read its answer: closing the connection instead would make it see a
reset. Bounding that drain is the HTTP server's or the proxy's job.)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from scaleserve.api.admin import MAX_BODY_BYTES as ADMIN_LIMIT_BYTES
from scaleserve.settings import GatewaySettings
from scaleserve.testing import Service, running_service
from tests.api.hostile import (
    TIMEOUT_S,
    Listener,
    RawResponse,
    admin_listener,
    chunked,
    error_code,
    main_listener,
    pickle_payload,
    raw_request,
    read_response,
    request_head,
    send_while_waiting,
)

FUZZ_APP = Path(__file__).with_name("fuzz_app.py")
MB = 1024 * 1024
HUGE_BYTES = 100 * MB
LIMIT_BYTES = GatewaySettings.max_body_bytes
IN_FLIGHT_BYTES = 16 * MB
"""What the sockets' buffers may hold on top of what the gateway read when it answered."""

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    body: dict[str, Any]
    """A valid body, to show that what refuses the others is their size or type alone."""
    admin: bool = False

    @property
    def limit_bytes(self) -> int:
        return ADMIN_LIMIT_BYTES if self.admin else LIMIT_BYTES

    def listener(self, service: Service) -> Listener:
        return admin_listener(service) if self.admin else main_listener(service)


ROUTES = [
    Route("predict", "/v1/models/echo/predict", {"inputs": ["x"]}),
    Route("stream", "/v1/models/ticker/stream", {"input": {"count": 1}}),
    Route("jobs", "/v1/jobs", {"model": "echo", "inputs": ["x"]}),
    Route("embeddings", "/v1/embeddings", {"model": "vectors", "input": "x"}),
    Route("chat", "/v1/chat/completions", {"model": "writer", "messages": [{"role": "user"}]}),
    Route(
        "oip",
        "/v2/models/echo/infer",
        {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["x"]}]},
    ),
    Route("admin", "/admin/tenants", {"name": "acme"}, admin=True),
]
ROUTE_IDS = [route.name for route in ROUTES]
JSON_ONLY = [route for route in ROUTES if route.name != "oip"]


def assert_refused(response: RawResponse, status: int, code: str) -> None:
    """``status`` with a JSON error naming ``code`` (where the route's shape has codes)."""
    assert response.status == status, response
    assert error_code(response) in (code, None), response.json()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(FUZZ_APP, auth=True) as running:
        yield running


@pytest.fixture
def gateway(service: Service) -> psutil.Process:
    return psutil.Process(service.pid)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_valid_body_is_taken(service: Service, route: Route) -> None:
    listener = route.listener(service)
    response = httpx.post(
        listener.url + route.path, json=route.body, headers=listener.headers, timeout=TIMEOUT_S
    )
    assert response.status_code < 300, response.text


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_declared_100_mb_body_is_refused_before_any_of_it_is_sent(
    service: Service, gateway: psutil.Process, route: Route
) -> None:
    listener = route.listener(service)
    read_before = gateway.io_counters().read_chars
    started = time.perf_counter()
    with socket.create_connection(listener.address, timeout=TIMEOUT_S) as sock:
        headers = {"Content-Type": "application/json", "Content-Length": str(HUGE_BYTES)}
        sock.sendall(request_head(listener, "POST", route.path, headers))
        response = read_response(sock)  # not a byte of the body was sent
    assert time.perf_counter() - started < 1
    assert_refused(response, 413, "body_too_large")
    assert gateway.io_counters().read_chars - read_before < MB


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_chunked_100_mb_body_is_refused_once_past_the_limit(
    service: Service, gateway: psutil.Process, route: Route
) -> None:
    """The answer comes as soon as the limit is passed, not after the whole body, and the
    gateway never holds much more than the limit in memory."""
    listener = route.listener(service)
    rss_before = gateway.memory_info().rss
    _peak_rss_reset(gateway)
    with socket.create_connection(listener.address, timeout=TIMEOUT_S) as sock:
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head(listener, "POST", route.path, headers))
        response, sent_bytes = send_while_waiting(sock, chunked(HUGE_BYTES))
    assert_refused(response, 413, "body_too_large")
    assert sent_bytes < route.limit_bytes + IN_FLIGHT_BYTES
    assert _peak_rss_bytes(gateway) - rss_before < route.limit_bytes + 16 * MB


def _peak_rss_reset(process: psutil.Process) -> None:
    Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def _peak_rss_bytes(process: psutil.Process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_100_mb_bodies_get_413_quickly_and_the_gateway_stays_small(
    service: Service, gateway: psutil.Process
) -> None:
    """A real client posting 100 MB, with a length and chunked: it reads its 413 (the
    gateway drops what it no longer needs as it comes), the gateway's memory peaks at about
    the limit and ends where it began."""
    body = b'{"inputs": ["' + b"x" * HUGE_BYTES + b'"]}'
    url = service.base_url + "/v1/models/echo/predict"
    headers = {**service.headers, "content-type": "application/json"}
    rss_before = gateway.memory_info().rss
    _peak_rss_reset(gateway)
    with httpx.Client(headers=headers, timeout=TIMEOUT_S) as http:
        for content in (body, (body[i : i + MB] for i in range(0, len(body), MB))):
            started = time.perf_counter()
            response = http.post(url, content=content)
            assert time.perf_counter() - started < 2
            assert response.status_code == 413 and error_code(response) == "body_too_large"
    assert _peak_rss_bytes(gateway) - rss_before < LIMIT_BYTES + 16 * MB
    assert gateway.memory_info().rss - rss_before < 20 * MB


NOT_JSON = [
    "application/x-pickle",
    "application/python-pickle",
    "application/octet-stream",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
]


@pytest.mark.parametrize("media_type", NOT_JSON)
@pytest.mark.parametrize("route", JSON_ONLY, ids=[route.name for route in JSON_ONLY])
def test_a_body_that_is_not_json_is_415_and_a_pickle_is_never_loaded(
    service: Service, tmp_path: Path, route: Route, media_type: str
) -> None:
    canary = tmp_path / "unpickled"
    listener = route.listener(service)
    response = raw_request(
        listener, "POST", route.path, {"Content-Type": media_type}, pickle_payload(canary)
    )
    assert_refused(response, 415, "unsupported_media_type")
    assert not canary.exists()


def test_the_pickle_used_here_does_run_when_loaded(tmp_path: Path) -> None:
    """Proof that the tests above would see an unpickled payload: loading one creates its
    canary file."""
    import pickle

    canary = tmp_path / "unpickled"
    pickle.loads(pickle_payload(canary))  # our own payload, loaded on purpose
    assert canary.exists()


def test_the_oip_binary_extension_reads_octet_streams_as_json_and_tensors_only(
    service: Service, tmp_path: Path
) -> None:
    """The one route that takes ``application/octet-stream`` (Triton's binary tensors)
    parses it as JSON and raw numbers: a pickle there is malformed, never loaded."""
    canary = tmp_path / "unpickled"
    response = raw_request(
        main_listener(service),
        "POST",
        "/v2/models/echo/infer",
        {"Content-Type": "application/octet-stream"},
        pickle_payload(canary),
    )
    assert response.status == 400 and "not valid JSON" in response.json()["error"]
    assert not canary.exists()
    pickled = raw_request(
        main_listener(service),
        "POST",
        "/v2/models/echo/infer",
        {"Content-Type": "application/x-pickle"},
        pickle_payload(canary),
    )
    assert pickled.status == 415 and not canary.exists()


@pytest.mark.parametrize("media_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_media_types_are_taken_in_any_spelling(service: Service, media_type: str) -> None:
    response = raw_request(
        main_listener(service),
        "POST",
        "/v1/models/echo/predict",
        {"Content-Type": media_type},
        b'{"inputs": ["x"]}',
    )
    assert response.status == 200 and response.json()["outputs"] == ["x"]
