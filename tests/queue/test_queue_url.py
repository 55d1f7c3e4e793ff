"""``scaleserve serve --queue URL``: the queue on RabbitMQ or NATS, chosen by the URL's
scheme, with jobs in the gateway's SQLite store driven through it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.errors import ConfigError
from scaleserve.queue.backends.queue_names import QueueNames
from scaleserve.settings import ServeSettings
from scaleserve.testing import running_service, running_workers
from tests.helpers import metric_value
from tests.queue.cleanup import delete_nats, delete_rabbit

ECHO = Path(__file__).parents[2] / "examples" / "echo"
AUTOSCALED = Path(__file__).parents[1] / "fixtures" / "autoscale_app.py"


@pytest.fixture(params=["amqp", "nats"])
def queue_url(request: pytest.FixtureRequest) -> str:
    fixture = "amqp_url" if request.param == "amqp" else "nats_url"
    return str(request.getfixturevalue(fixture))


def served_echo(queue_url: str, prefix: str) -> Iterator[str]:
    env = {"SCALESERVE_REDIS_PREFIX": prefix}
    with running_service(ECHO, args=["--queue", queue_url], env=env) as service:
        yield service.base_url


async def test_serve_answers_predict_and_jobs_through_the_broker(
    queue_url: str, queue_prefix: str
) -> None:
    names = QueueNames(queue_prefix)
    try:
        for base_url in served_echo(queue_url, queue_prefix):
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                answer = await client.post("/v1/models/echo/predict", json={"inputs": [1, "a"]})
                assert answer.status_code == 200, answer.text
                assert answer.json()["outputs"] == [1, "a"]
                body = {"model": "echo", "inputs": [3, 4]}
                job = await client.post("/v1/jobs", json=body, headers={"Prefer": "wait=20"})
                assert job.status_code == 201, job.text
                assert job.json()["status"] == "succeeded"
                assert job.json()["outputs"] == [3, 4]
    finally:
        delete = delete_rabbit if queue_url.startswith("amqp") else delete_nats
        await delete(queue_url, names, ["echo"])


async def test_a_gateway_and_workers_started_apart_meet_on_the_broker(
    queue_url: str, queue_prefix: str
) -> None:
    """``scaleserve api --queue URL`` on one side, ``scaleserve worker --queue URL`` on the
    other, as on two machines."""
    env = {"SCALESERVE_REDIS_PREFIX": queue_prefix}
    args = ["--queue", queue_url]
    try:
        with (
            running_workers(ECHO, args=args, env=env),
            running_service(ECHO, command="api", args=args, env=env) as gateway,
        ):
            async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as client:
                answer = await client.post("/v1/models/echo/predict", json={"inputs": [7, "b"]})
                assert answer.status_code == 200, answer.text
                assert answer.json()["outputs"] == [7, "b"]
    finally:
        delete = delete_rabbit if queue_url.startswith("amqp") else delete_nats
        await delete(queue_url, QueueNames(queue_prefix), ["echo"])


async def test_the_local_autoscaler_wakes_a_model_from_zero_and_puts_it_back_to_sleep(
    queue_url: str, queue_prefix: str
) -> None:
    """``serve --queue URL`` scales its own workers on the broker's backlog, as on the
    embedded queue."""
    env = {"SCALESERVE_REDIS_PREFIX": queue_prefix}
    try:
        with running_service(f"{AUTOSCALED}:Cold", args=["--queue", queue_url], env=env) as service:
            async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
                assert await workers_of(client, "cold") == 0
                answer = await client.post("/v1/models/cold/predict", json={"inputs": [1.0]})
                assert answer.status_code == 200, answer.text
                async with asyncio.timeout(30):  # idle for 2 s: back to zero
                    while await workers_of(client, "cold") != 0:  # noqa: ASYNC110 - a metric: no event
                        await asyncio.sleep(0.1)
            log = service.logs()
    finally:
        delete = delete_rabbit if queue_url.startswith("amqp") else delete_nats
        await delete(queue_url, QueueNames(queue_prefix), ["cold"])
    assert "autoscale cold: 0 -> 1 workers" in log
    assert "autoscale cold: 1 -> 0 workers: no request for" in log


async def workers_of(client: httpx.AsyncClient, model: str) -> float:
    text = (await client.get("/metrics")).text
    return metric_value(text, "scaleserve_workers_current", model=model)


def test_a_redis_queue_url_means_redis_and_an_unknown_one_is_refused() -> None:
    settings = ServeSettings.from_env(["x"], queue_url="redis://127.0.0.1:6379/0")
    assert (settings.redis_url, settings.queue_url) == ("redis://127.0.0.1:6379/0", None)
    amqp = ServeSettings.from_env(["x"], queue_url="amqp://guest:guest@127.0.0.1:5672/")
    assert (amqp.redis_url, amqp.queue_url) == (None, "amqp://guest:guest@127.0.0.1:5672/")
    with pytest.raises(ConfigError, match="unknown queue URL"):
        ServeSettings.from_env(["x"], queue_url="kafka://127.0.0.1:9092")
