"""The semantic cache in a real gateway, embedding with the real all-MiniLM-L6-v2 example."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service
from tests.helpers import metric_value

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "semantic_app.py"
ANSWERS = "/v1/models/answers/predict"
CHAT = "/v1/models/chat/predict"


@pytest.fixture(scope="module")
def semantic_service() -> Iterator[Service]:
    with running_service(APP, env={"HF_HUB_OFFLINE": "1"}) as service:
        yield service


@pytest.fixture
async def client(semantic_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=semantic_service.base_url, timeout=120) as http:
        yield http


async def ask(client: httpx.AsyncClient, *questions: str) -> httpx.Response:
    response = await client.post(ANSWERS, json={"inputs": list(questions)})
    assert response.status_code == 200, response.text
    return response


async def test_a_paraphrase_is_answered_by_its_neighbour(client: httpx.AsyncClient) -> None:
    first = await ask(client, "How do I reset my password?")
    assert first.headers["x-cache"] == "miss"
    paraphrase = await ask(client, "How can I reset my password?")
    assert paraphrase.headers["x-cache"] == "hit-semantic"
    assert paraphrase.json()["outputs"] == first.json()["outputs"]
    # remembered exactly too: the same paraphrase again needs no embedding
    assert (await ask(client, "How can I reset my password?")).headers["x-cache"] == "hit-memory"


@pytest.mark.parametrize(
    ("cached", "near_miss"),
    [
        ("Is it safe to eat raw eggs?", "Is it unsafe to eat raw eggs?"),
        ("My order has arrived", "My order has not arrived"),
        ("Book a table for 4 people at 7pm", "Book a table for 6 people at 7pm"),
        ("What is the capital of France?", "What is the capital of Germany?"),
        ("Turn on the living room lights", "Turn off the living room lights"),
    ],
)
async def test_a_near_miss_is_not_answered_by_its_neighbour(
    client: httpx.AsyncClient, cached: str, near_miss: str
) -> None:
    first = await ask(client, cached)
    second = await ask(client, near_miss)
    assert second.headers["x-cache"] == "miss"
    assert second.json()["outputs"][0]["answer"] == f"re: {near_miss}"
    assert second.json()["outputs"] != first.json()["outputs"]


async def test_guard_refusals_are_counted(client: httpx.AsyncClient) -> None:
    def rejected(text: str) -> float:
        return metric_value(
            text, "scaleserve_cache_lookups_total", model="answers", tier="semantic",
            result="rejected",
        )  # fmt: skip

    before = rejected((await client.get("/metrics")).text)
    await ask(client, "Can I bring a laptop in my carry-on bag?")
    await ask(client, "Can I not bring a laptop in my carry-on bag?")
    assert rejected((await client.get("/metrics")).text) == before + 1


async def test_one_request_mixes_every_way_of_being_served(client: httpx.AsyncClient) -> None:
    await ask(client, "What time does the museum open on Sunday?")
    mixed = await ask(
        client,
        "What time does the museum open on Sunday?",
        "When does the museum open on Sundays?",
        "Where is the nearest train station?",
    )
    assert mixed.headers["x-cache"] == "hit-memory=1, hit-semantic=1, miss=1"
    outputs = mixed.json()["outputs"]
    assert outputs[0] == outputs[1]
    assert outputs[2]["answer"] == "re: Where is the nearest train station?"


async def test_the_rest_of_an_object_item_must_match_exactly(client: httpx.AsyncClient) -> None:
    async def chat(prompt: str, temperature: float) -> httpx.Response:
        body = {"inputs": [{"prompt": prompt, "temperature": temperature}]}
        response = await client.post(CHAT, json=body)
        assert response.status_code == 200, response.text
        return response

    first = await chat("Summarize the plot of Hamlet", 0.0)
    same = await chat("Give me a summary of the plot of Hamlet", 0.0)
    hotter = await chat("Give me a summary of the plot of Hamlet", 0.9)
    assert first.headers["x-cache"] == "miss"
    assert same.headers["x-cache"] == "hit-semantic"
    assert same.json()["outputs"] == first.json()["outputs"]
    assert hotter.headers["x-cache"] == "miss"
