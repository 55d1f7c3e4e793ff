"""Admission under load, on a service of its own: past a model's bound the excess gets 503
and nothing else, everything accepted completes, and items whose deadline passed while the
workers were stopped are dropped, never computed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from scaleserve.testing import Service, running_service
from tests.conftest import FIXTURE_APP
from tests.helpers import metric_value, wait_for_metric


@pytest.fixture(scope="module")
def own_service() -> Iterator[Service]:
    with running_service(FIXTURE_APP) as running:
        yield running


async def items_done(http: httpx.AsyncClient, model: str, outcome: str) -> float:
    text = (await http.get("/metrics")).text
    return metric_value(text, "scaleserve_items_total", model=model, outcome=outcome)


async def test_past_the_bound_the_excess_gets_503_and_the_rest_completes(
    own_service: Service,
) -> None:
    url = "/v1/models/narrow/predict"
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(base_url=own_service.base_url, timeout=60, limits=limits) as http:
        before = await items_done(http, "narrow", "ok")
        answers = await asyncio.gather(*(http.post(url, json={"inputs": [5]}) for _ in range(200)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {200, 503}
        assert 0 < statuses.count(200) < 200
        assert all(a.json()["code"] == "overloaded" for a in answers if a.status_code == 503)
        assert all(a.json()["outputs"] == [5] for a in answers if a.status_code == 200)
        # every accepted item was computed once; none of the refused ones was
        done = await wait_for_metric(
            http,
            "scaleserve_items_total",
            before + statuses.count(200),
            model="narrow",
            outcome="ok",
        )
        assert done == before + statuses.count(200)


async def test_items_past_their_deadline_are_never_computed(own_service: Service) -> None:
    url = "/v1/models/probe/predict"
    (worker,) = own_service.worker_pids("probe")
    async with httpx.AsyncClient(base_url=own_service.base_url, timeout=60) as http:
        ok_before = await items_done(http, "probe", "ok")
        os.kill(worker, signal.SIGSTOP)
        try:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    http.post(
                        url, json={"inputs": [{"value": n}]}, headers={"x-request-timeout": "0.5"}
                    )
                    for n in range(50)
                )
            )
            waited_s = time.monotonic() - started
        finally:
            os.kill(worker, signal.SIGCONT)
        assert [a.status_code for a in answers] == [504] * 50
        assert waited_s < 0.5 + 1.0  # answered at the deadline, not when the worker woke
        # Queues are FIFO: once an item sent after them is answered, each of the fifty was
        # dropped (by the gateway's queue or by the worker) or computed; none was computed.
        marker = await http.post(url, json={"inputs": [{"value": -1}]})
        assert marker.status_code == 200
        assert await items_done(http, "probe", "ok") == ok_before + 1


async def test_a_full_queue_refuses_before_the_body_arrives(own_service: Service) -> None:
    url = "/v1/models/narrow/predict"
    async with httpx.AsyncClient(base_url=own_service.base_url, timeout=60) as http:
        slow = [asyncio.create_task(http.post(url, json={"inputs": [800]})) for _ in range(2)]
        await wait_for_metric(http, "scaleserve_queue_depth", 2, model="narrow")
        port = int(own_service.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000\r\n\r\n"
        )
        writer.write(head.encode())  # and not one byte of the body
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 503")
        assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
