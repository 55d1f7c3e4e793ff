"""The embeddings example served for real: all-MiniLM-L6-v2 weights from the installed package."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service

URL = "/v1/models/embeddings/predict"


@pytest.fixture(scope="module")
def embeddings() -> Iterator[Service]:
    with running_service(Path(__file__).parent, env={"HF_HUB_OFFLINE": "1"}) as service:
        yield service


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# Computed by the model, never answered from nor added to the result cache.
UNCACHED = {"cache-control": "no-cache, no-store"}


def embed(
    service: Service, texts: list[str], headers: dict[str, str] | None = None
) -> list[list[float]]:
    response = httpx.post(
        service.base_url + URL, json={"inputs": texts}, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "embeddings"
    assert body["version"] == "all-minilm-l6-v2"
    return body["outputs"]  # type: ignore[no-any-return]


def test_vectors_are_384_floats_of_unit_length(embeddings: Service) -> None:
    vectors = embed(embeddings, ["A cat sits on the mat.", "Stock markets fell sharply today."])
    assert [len(v) for v in vectors] == [384, 384]
    for vector in vectors:
        assert math.isclose(math.sqrt(cosine(vector, vector)), 1.0, abs_tol=1e-3)


def test_meaning_is_captured(embeddings: Service) -> None:
    cat, kitten, markets = embed(
        embeddings,
        [
            "A cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Interest rates rose again this quarter.",
        ],
    )
    assert cosine(cat, kitten) > 0.5
    assert cosine(cat, kitten) > cosine(cat, markets) + 0.3


def test_a_sentence_embeds_the_same_alone_or_in_a_batch(embeddings: Service) -> None:
    alone = embed(embeddings, ["Batching must not change the answer."])[0]
    batched = embed(
        embeddings,
        ["Something else entirely.", "Batching must not change the answer.", "x"],
        headers=UNCACHED,
    )[1]
    assert cosine(alone, batched) > 0.999


def batch_totals(metrics: str) -> tuple[float, float]:
    """Items and predict calls so far (``scaleserve_batch_size`` sum and count)."""
    values = {
        name: float(line.split()[-1])
        for line in metrics.splitlines()
        for name in ("scaleserve_batch_size_sum", "scaleserve_batch_size_count")
        if line.startswith(name)
    }
    return values["scaleserve_batch_size_sum"], values["scaleserve_batch_size_count"]


async def test_concurrent_requests_are_batched_and_answered_in_order(embeddings: Service) -> None:
    texts = [f"Sentence number {n} about a different topic each time." for n in range(24)]
    expected = embed(embeddings, texts, headers=UNCACHED)
    async with httpx.AsyncClient(base_url=embeddings.base_url, timeout=60) as client:
        items_before, calls_before = batch_totals((await client.get("/metrics")).text)
        responses = await asyncio.gather(*(client.post(URL, json={"inputs": [t]}) for t in texts))
        items_after, calls_after = batch_totals((await client.get("/metrics")).text)
    assert [r.headers["x-cache"] for r in responses] == ["miss"] * len(texts)
    for response, want in zip(responses, expected, strict=True):
        assert cosine(response.json()["outputs"][0], want) > 0.999
    assert items_after - items_before == len(texts)
    assert calls_after - calls_before < len(texts), "24 concurrent requests never shared a batch"


def test_a_text_embedded_before_is_answered_by_the_cache(embeddings: Service) -> None:
    texts = ["The cache remembers this sentence.", "And this one."]
    first = httpx.post(embeddings.base_url + URL, json={"inputs": texts}, timeout=60)
    again = httpx.post(embeddings.base_url + URL, json={"inputs": texts[::-1]}, timeout=60)
    assert first.headers["x-cache"] == "miss"
    assert again.headers["x-cache"] == "hit-memory"
    assert again.json()["outputs"] == first.json()["outputs"][::-1]


def test_empty_text_is_rejected_with_422(embeddings: Service) -> None:
    response = httpx.post(embeddings.base_url + URL, json={"inputs": ["fine", ""]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "inputs", 1]
