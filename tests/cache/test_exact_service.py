"""The exact cache in a real gateway with real workers (memory tier)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from scaleserve.testing import Service
from tests.helpers import metric_value, wait_for_metric

EXACT = "/v1/models/exact/predict"


def items(*values: int) -> dict[str, Any]:
    return {"inputs": [{"value": v} for v in values]}


async def computed(client: httpx.AsyncClient, model: str) -> float:
    """Items the model's workers have computed so far."""
    text = (await client.get("/metrics")).text
    return metric_value(text, "scaleserve_items_total", model=model, outcome="ok")


async def test_a_repeated_item_is_answered_from_memory(cached: httpx.AsyncClient) -> None:
    first = await cached.post(EXACT, json=items(101))
    again = await cached.post(EXACT, json=items(101))
    assert first.status_code == again.status_code == 200
    assert first.headers["x-cache"] == "miss"
    assert again.headers["x-cache"] == "hit-memory"
    assert again.json() == first.json()  # the same n: computed once


async def test_only_the_misses_of_a_request_reach_the_workers(cached: httpx.AsyncClient) -> None:
    cached_values = list(range(1000, 1020))
    assert (await cached.post(EXACT, json=items(*cached_values))).status_code == 200
    before = await computed(cached, "exact")
    mixed = [v for pair in zip(cached_values, range(2000, 2020), strict=True) for v in pair][:32]
    response = await cached.post(EXACT, json=items(*mixed))
    assert response.status_code == 200
    assert response.headers["x-cache"] == "hit-memory=16, miss=16"
    assert [o["value"] for o in response.json()["outputs"]] == mixed
    assert await computed(cached, "exact") == before + 16


async def test_twenty_of_thirty_two_cached_sends_twelve(cached: httpx.AsyncClient) -> None:
    warm = list(range(3000, 3020))
    await cached.post(EXACT, json=items(*warm))
    before = await computed(cached, "exact")
    request = warm[:10] + list(range(4000, 4012)) + warm[10:]
    response = await cached.post(EXACT, json=items(*request))
    assert response.headers["x-cache"] == "hit-memory=20, miss=12"
    assert [o["value"] for o in response.json()["outputs"]] == request
    assert await computed(cached, "exact") == before + 12


async def test_an_item_repeated_in_one_request_is_computed_once(
    cached: httpx.AsyncClient,
) -> None:
    before = await computed(cached, "exact")
    response = await cached.post(EXACT, json=items(5000, 5000, 5000))
    outputs = response.json()["outputs"]
    assert response.headers["x-cache"] == "miss"
    assert len({o["n"] for o in outputs}) == 1
    assert await computed(cached, "exact") == before + 1


async def test_object_key_order_does_not_matter(cached: httpx.AsyncClient) -> None:
    url = "/v1/models/anything/predict"
    first = await cached.post(url, content=b'{"inputs": [{"a": 1, "b": {"x": [1, 2], "y": null}}]}')
    again = await cached.post(url, content=b'{"inputs":[{"b":{"y":null,"x":[1,2]},"a":1}]}')
    assert first.headers["x-cache"] == "miss"
    assert again.headers["x-cache"] == "hit-memory"
    assert again.json()["outputs"] == first.json()["outputs"]
    other = await cached.post(url, json={"inputs": [{"a": 1, "b": {"x": [2, 1], "y": None}}]})
    assert other.headers["x-cache"] == "miss"


async def test_cache_control_no_cache_recomputes_and_no_store_keeps_it_out(
    cached: httpx.AsyncClient,
) -> None:
    first = await cached.post(EXACT, json=items(6000))
    fresh = await cached.post(EXACT, json=items(6000), headers={"cache-control": "no-cache"})
    assert fresh.headers["x-cache"] == "miss"
    assert fresh.json()["outputs"][0]["n"] != first.json()["outputs"][0]["n"]
    stored = await cached.post(EXACT, json=items(6000))
    assert stored.json() == fresh.json()  # no-cache still stored its answer
    unstored = await cached.post(
        EXACT, json=items(6001), headers={"cache-control": "no-cache, no-store"}
    )
    assert unstored.headers["x-cache"] == "miss"
    assert (await cached.post(EXACT, json=items(6001))).headers["x-cache"] == "miss"


async def test_a_model_without_a_policy_is_not_cached(cached: httpx.AsyncClient) -> None:
    url = "/v1/models/plain/predict"
    first, again = [await cached.post(url, json=items(7000)) for _ in range(2)]
    assert "x-cache" not in first.headers and "x-cache" not in again.headers
    assert again.json()["outputs"][0]["n"] != first.json()["outputs"][0]["n"]


async def test_bad_input_to_a_cached_model_is_still_422(cached: httpx.AsyncClient) -> None:
    response = await cached.post(EXACT, json={"inputs": [{"value": "seven"}]})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert "x-cache" not in response.headers


async def test_purge_drops_a_models_entries(
    cached: httpx.AsyncClient, cache_service: Service
) -> None:
    await cached.post(EXACT, json=items(8000, 8001))
    assert (await cached.post(EXACT, json=items(8000))).headers["x-cache"] == "hit-memory"
    purged = await cached.delete(cache_service.admin_url + "/admin/models/exact/cache")
    assert purged.status_code == 200
    body = purged.json()
    assert body["model"] == "exact" and body["purged"] >= 2
    assert (await cached.post(EXACT, json=items(8000))).headers["x-cache"] == "miss"


async def test_purge_of_an_unknown_model_is_404(
    cached: httpx.AsyncClient, cache_service: Service
) -> None:
    response = await cached.delete(cache_service.admin_url + "/admin/models/nope/cache")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_model"


async def test_the_memory_tier_stays_within_its_bound(cached: httpx.AsyncClient) -> None:
    url = "/v1/models/small/predict"
    for value in range(10):
        await cached.post(url, json=items(9000 + value))
    text = (await cached.get("/metrics")).text
    assert metric_value(text, "scaleserve_cache_entries", model="small", tier="memory") == 3
    assert metric_value(text, "scaleserve_cache_evictions_total", model="small") >= 7
    assert (await cached.post(url, json=items(9009))).headers["x-cache"] == "hit-memory"
    assert (await cached.post(url, json=items(9000))).headers["x-cache"] == "miss"


async def test_metrics_count_hits_and_misses_by_tier(cached: httpx.AsyncClient) -> None:
    def lookups(text: str, result: str) -> float:
        return metric_value(
            text, "scaleserve_cache_lookups_total", model="exact", tier="memory", result=result
        )

    before = (await cached.get("/metrics")).text
    await cached.post(EXACT, json=items(10_000, 10_001))
    await cached.post(EXACT, json=items(10_000, 10_001, 10_002))
    after = (await cached.get("/metrics")).text
    assert lookups(after, "hit") - lookups(before, "hit") == 2
    assert lookups(after, "miss") - lookups(before, "miss") == 3


async def test_an_expired_entry_is_served_stale_when_the_queue_is_full(
    cached: httpx.AsyncClient,
) -> None:
    url = "/v1/models/fragile/predict"
    first = await cached.post(url, json=items(11_000))
    assert first.headers["x-cache"] == "miss"
    await asyncio.sleep(0.6)  # its TTL is 0.5 s: nothing to await but the clock
    slow = {"inputs": [{"value": 1, "sleep_ms": 3000}, {"value": 2, "sleep_ms": 3000}]}
    blocker = asyncio.create_task(cached.post(url, json=slow))
    await wait_for_metric(cached, "scaleserve_queue_depth", 2, model="fragile")
    stale = await cached.post(url, json=items(11_000))
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "stale"
    assert stale.json() == first.json()
    refused = await cached.post(url, json=items(11_001))  # nothing cached to fall back on
    assert refused.status_code == 503
    assert refused.json()["code"] == "overloaded"
    assert (await blocker).status_code == 200
