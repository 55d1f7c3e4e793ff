"""Webhooks from a real service (embedded and on Redis) to a real receiver on loopback."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest

from scaleserve.jobs.webhooks import verify_signature
from scaleserve.testing import Service, running_service

DOUBLE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Double"
SECRET = "test-webhook-secret"


class Receiver:
    """An HTTP receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()
                received.arrived.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    thread = threading.Thread(target=receiving.server.serve_forever, daemon=True)
    thread.start()
    yield receiving
    receiving.server.shutdown()
    receiving.server.server_close()


@pytest.fixture(params=["embedded", "redis"])
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    env = {"SCALESERVE_WEBHOOK_SECRET": SECRET, "SCALESERVE_WEBHOOK_ALLOW": "127.0.0.1"}
    if request.param == "redis":
        env["SCALESERVE_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["SCALESERVE_REDIS_PREFIX"] = f"sstest-{uuid.uuid4().hex[:12]}"
    return env


async def test_finished_job_is_posted_signed_to_its_webhook(
    receiver: Receiver, backend_env: dict[str, str]
) -> None:
    with running_service(DOUBLE, env=backend_env) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            response = await client.post(
                "/v1/jobs",
                json={"model": "double", "inputs": [1, 2], "webhook": {"url": receiver.url}},
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            assert await asyncio.to_thread(receiver.arrived.wait, 60)
    [(headers, body)] = receiver.requests
    assert verify_signature(SECRET.encode(), headers["scaleserve-signature"], body)
    assert not verify_signature(b"another secret", headers["scaleserve-signature"], body)
    assert headers["idempotency-key"] == job_id
    delivered = orjson.loads(body)
    assert delivered["id"] == job_id
    assert delivered["status"] == "succeeded"
    assert delivered["outputs"] == [2, 4]


@pytest.fixture(scope="module")
def strict_service() -> Iterator[Service]:
    """Webhooks on, nothing allowlisted."""
    with running_service(DOUBLE, env={"SCALESERVE_WEBHOOK_SECRET": SECRET}) as service:
        yield service


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:6379/",
        "http://10.0.0.1/hook",
        "http://[::ffff:127.0.0.1]:6379/",
        "http://2130706433/",
        "file:///etc/passwd",
    ],
)
def test_webhooks_to_internal_addresses_are_refused_at_submission(
    url: str, strict_service: Service
) -> None:
    response = httpx.post(
        f"{strict_service.base_url}/v1/jobs",
        json={"model": "double", "inputs": [1], "webhook": {"url": url}},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "webhook_refused"


def test_webhooks_are_refused_when_no_secret_is_configured() -> None:
    with running_service(DOUBLE) as service:
        response = httpx.post(
            f"{service.base_url}/v1/jobs",
            json={"model": "double", "inputs": [1], "webhook": {"url": "https://example.com/hook"}},
        )
    assert response.status_code == 400
    assert "SCALESERVE_WEBHOOK_SECRET" in response.json()["detail"]
