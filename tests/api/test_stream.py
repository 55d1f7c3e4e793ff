"""``POST /v1/models/{name}/stream`` through a real gateway and real worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from scaleserve.testing import Service
from tests.helpers import metric_value, wait_for_metric

URL = "/v1/models/chatter/stream"


@pytest.fixture
async def client(stream_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stream_service.base_url, timeout=60) as http:
        yield http


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, bytes]]:
    """(event name, data) of each Server-Sent Event, as it arrives."""
    name, data = "message", b""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ").encode()
        elif line == "" and data:
            yield name, data
            name, data = "message", b""


async def wait_for_file(path: Path, timeout_s: float = 60) -> str:
    """The text of a file the model's process writes (it has no event to share with us)."""
    async with asyncio.timeout(timeout_s):
        while not await asyncio.to_thread(path.exists):  # noqa: ASYNC110 - see above
            await asyncio.sleep(0.02)
    return await asyncio.to_thread(path.read_text)


async def test_chunks_are_events_then_end(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", URL, json={"input": {"words": 3}}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        got = [(name, orjson.loads(data)) async for name, data in events(response)]
    assert got == [("message", "word0"), ("message", "word1"), ("message", "word2"), ("end", {})]


async def test_chunks_reach_the_client_before_the_model_is_done(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gate, closed = tmp_path / "gate", tmp_path / "closed"
    steer = {"words": 3, "gate": str(gate), "closed": str(closed)}
    async with client.stream("POST", URL, json={"input": steer}) as response:
        stream = events(response)
        assert await anext(stream) == ("message", b'"word0"')
        assert await anext(stream) == ("message", b'"word1"')
        assert not closed.exists()  # the model is still waiting to write its last word
        gate.touch()
        assert [e async for e in stream] == [("message", b'"word2"'), ("end", b"{}")]
    assert await wait_for_file(closed) == "3"


async def test_a_client_that_leaves_stops_the_generation(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    steer = {"words": 100_000, "pause_ms": 5, "closed": str(closed)}
    async with client.stream("POST", URL, json={"input": steer}) as response:
        stream = events(response)
        for _ in range(3):
            await anext(stream)
    # Leaving the block closed the connection mid-stream.
    assert int(await wait_for_file(closed)) < 100_000
    await wait_for_metric(client, "scaleserve_items_total", 1, model="chatter", outcome="cancelled")
    await wait_for_metric(
        client, "scaleserve_streams_total", 1, model="chatter", outcome="disconnected"
    )
    async with client.stream("POST", URL, json={"input": {"words": 1}}) as response:
        assert [e async for e in events(response)] == [("message", b'"word0"'), ("end", b"{}")]


async def test_failure_before_the_first_chunk_is_a_problem_response(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(URL, json={"input": {"words": 2, "fail_at": 0}})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "model_error"
    assert "asked to fail at word 0" in response.json()["detail"]


async def test_failure_after_the_first_chunk_is_an_error_event(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", URL, json={"input": {"words": 3, "fail_at": 1}}) as response:
        assert response.status_code == 200
        got = [(name, orjson.loads(data)) async for name, data in events(response)]
    assert got[0] == ("message", "word0")
    name, problem = got[1]
    assert name == "error" and problem["code"] == "model_error" and len(got) == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": {"words": "many"}}, 422, "invalid_input"),
        ({"inputs": [{"words": 1}]}, 422, "invalid_input"),
        ({"input": {"words": 1}, "extra": 1}, 422, "invalid_input"),
    ],
)
async def test_invalid_input_is_a_422_problem(
    client: httpx.AsyncClient, body: object, status: int, code: str
) -> None:
    response = await client.post(URL, json=body)
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_bad_requests_get_native_problems(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/v1/models/nope/stream", json={"input": 1})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_model"
    plain = await client.post("/v1/models/plain/stream", json={"input": "x"})
    assert plain.status_code == 400 and "predict_stream" in plain.json()["detail"]
    malformed = await client.post(
        URL, content=b'{"input":', headers={"content-type": "application/json"}
    )
    # as on /predict: a body that is not JSON is 400, one that does not fit the types 422
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"
    timeout = await client.post(URL, json={"input": {}}, headers={"x-request-timeout": "soon"})
    assert timeout.status_code == 400 and timeout.json()["code"] == "bad_request"


async def test_time_to_first_chunk_is_measured(client: httpx.AsyncClient) -> None:
    before = metric_value(
        (await client.get("/metrics")).text,
        "scaleserve_time_to_first_chunk_seconds_count",
        model="chatter",
    )
    async with client.stream("POST", URL, json={"input": {"words": 2}}) as response:
        assert len([e async for e in events(response)]) == 3
    await wait_for_metric(
        client, "scaleserve_time_to_first_chunk_seconds_count", before + 1, model="chatter"
    )


async def test_the_stream_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    route = document["paths"]["/v1/models/chatter/stream"]["post"]
    assert "text/event-stream" in route["responses"]["200"]["content"]
    body = route["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("ChatterStreamRequest")
    assert "/v1/models/plain/stream" not in document["paths"]
