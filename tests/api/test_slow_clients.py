"""Slow and stalled clients (slowloris): a body that does not arrive whole within the body
timeout gets 408 and its connection closed, while everyone else is served as usual."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from scaleserve.testing import Service, running_service
from tests.helpers import metric_value

APP = str(Path(__file__).parents[1] / "fixtures" / "app.py")
BODY_TIMEOUT_S = 1.5
PREDICT = "/v1/models/probe/predict"


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    env = {"SCALESERVE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with running_service(f"{APP}:Probe", env=env) as service:
        yield service


@contextlib.asynccontextmanager
async def connection(
    service: Service,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = service.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def request_head(length: int) -> bytes:
    return (
        f"POST {PREDICT} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def rest_before_close(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes the connection. A close may come as a reset
    when the client was still writing bytes the server will never read (the trickler)."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


async def answer_of(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the one response on this connection; the
    connection must then be closed by the server."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    body = await reader.readexactly(int(headers["content-length"]))
    assert await rest_before_close(reader) == b""  # nothing more is read from this client
    return int(status_line.split()[1]), headers, body


async def test_a_body_trickled_byte_by_byte_gets_408_and_a_closed_connection(
    service: Service,
) -> None:
    body = orjson.dumps({"inputs": [{"value": 1}]})
    async with connection(service) as (reader, writer):
        writer.write(request_head(len(body)))
        started = asyncio.get_running_loop().time()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in body:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)

        sender = asyncio.create_task(trickle())
        async with asyncio.timeout(BODY_TIMEOUT_S + 10):
            status, headers, answer = await answer_of(reader)
        sender.cancel()
    assert status == 408
    assert headers["content-type"] == "application/problem+json"
    assert orjson.loads(answer)["code"] == "body_timeout"
    assert asyncio.get_running_loop().time() - started >= BODY_TIMEOUT_S


async def test_a_body_that_stalls_halfway_gets_408(service: Service) -> None:
    body = orjson.dumps({"inputs": [{"value": 1}]})
    async with connection(service) as (reader, writer):
        writer.write(request_head(len(body)) + body[:5])
        async with asyncio.timeout(BODY_TIMEOUT_S + 10):
            status, _, answer = await answer_of(reader)
    assert status == 408
    assert orjson.loads(answer)["code"] == "body_timeout"


async def test_others_are_served_while_many_clients_trickle(service: Service) -> None:
    async def slow_headers() -> None:
        async with connection(service) as (_, writer):
            for byte in request_head(10):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.5)

    async def slow_body() -> int:
        async with connection(service) as (reader, writer):
            writer.write(request_head(1000) + b'{"inputs": [')
            return (await answer_of(reader))[0]

    tricklers = [asyncio.create_task(slow_headers()) for _ in range(100)]
    stalled = [asyncio.create_task(slow_body()) for _ in range(20)]
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
            answers = await asyncio.gather(
                *(client.post(PREDICT, json={"inputs": [{"value": n}]}) for n in range(50))
            )
        assert [a.status_code for a in answers] == [200] * 50
        async with asyncio.timeout(BODY_TIMEOUT_S + 10):
            assert await asyncio.gather(*stalled) == [408] * 20
    finally:
        for task in tricklers + stalled:
            task.cancel()
        await asyncio.gather(*tricklers, *stalled, return_exceptions=True)


async def test_a_stream_longer_than_the_body_timeout_is_not_cut(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        job = {"model": "probe", "inputs": [{"value": 1, "sleep_ms": 1000 * BODY_TIMEOUT_S + 1500}]}
        job_id = (await client.post("/v1/jobs", json=job)).json()["id"]
        seen = []
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as events:
            async for line in events.aiter_lines():
                if line.startswith("event: "):
                    seen.append(line[7:])
    assert seen[-1] == "succeeded"


async def predict_answers(client: httpx.AsyncClient) -> tuple[float, float]:
    """How many probe predict requests were answered 200, and 400."""
    metrics = (await client.get("/metrics")).text
    ok, refused = (
        metric_value(metrics, "scaleserve_requests_total", model="probe", code=code)
        for code in ("200", "400")
    )
    return ok, refused


async def test_a_body_cut_short_by_a_disconnect_is_never_run(service: Service) -> None:
    body = orjson.dumps({"inputs": [{"value": 1}]})  # whole JSON, but less than announced
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        before = await predict_answers(client)
        async with connection(service) as (_, writer):
            writer.write(request_head(len(body) + 50) + body)
            await writer.drain()
        async with asyncio.timeout(10):
            while (after := await predict_answers(client)) == before:  # noqa: ASYNC110 - polls the server
                await asyncio.sleep(0.05)
    assert after == (before[0], before[1] + 1)  # refused, and the model never ran it
