"""Online features on a real service: written through ``/v1/features``, joined by the
gateway into the scorer's inputs, per tenant, with defaults and 422s naming what is missing;
on SQLite (embedded) and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service

APP = Path(__file__).parents[1] / "fixtures" / "features_app.py"
PREDICT = "/v1/models/scorer/predict"


@pytest.fixture(scope="module", params=["embedded", "redis"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    env = {}
    if request.param == "redis":
        env = {
            "SCALESERVE_REDIS_URL": request.getfixturevalue("redis_url"),
            "SCALESERVE_REDIS_PREFIX": f"sstest-{uuid.uuid4().hex[:12]}",
        }
    with running_service(APP, env=env, auth=True) as running:
        yield running


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=service.base_url, headers=service.headers, timeout=60
    ) as client:
        yield client


async def test_features_are_joined_into_inputs(http: httpx.AsyncClient) -> None:
    rows = [
        {"user_id": "ann", "age": 30, "spend": 12.5, "event_ts": 1000},
        {"user_id": "ann", "age": 31, "event_ts": 2000},  # newer age; spend stays
        {"user_id": "bob", "age": 40},  # event_ts: now; spend falls back to its default
    ]
    written = await http.put("/v1/features/users", json={"rows": rows})
    assert written.json() == {"ingested": 3}, written.text
    # The age written at time 1000 and 2000 is long stale (ttl 1 h): write fresh ones.
    await http.put("/v1/features/users", json={"rows": [{"user_id": "ann", "age": 31,
                                                          "spend": 12.5}]})  # fmt: skip
    inputs = [{"user_id": "ann", "basket": 1.0}, {"user_id": "bob", "basket": 2.0, "age": 99}]
    scored = await http.post(PREDICT, json={"inputs": inputs})
    assert scored.status_code == 200, scored.text
    assert scored.json()["outputs"] == [
        {"user_id": "ann", "score": 31 + 12.5 + 1.0},
        {"user_id": "bob", "score": 40 + 0.0 + 2.0},  # the client's age 99 is not used
    ]
    read = await http.post("/v1/features/users/read", json={"ids": ["ann", "nobody"]})
    entities = read.json()["entities"]
    assert entities["ann"]["values"] == {"age": 31, "spend": 12.5}
    assert entities["ann"]["missing"] == ["segment"]
    assert entities["nobody"]["missing"] == ["age", "segment", "spend"]


async def test_a_missing_feature_without_default_is_a_422_naming_it(
    http: httpx.AsyncClient,
) -> None:
    await http.put("/v1/features/users", json={"rows": [{"user_id": "cid", "age": 20}]})
    inputs = [{"user_id": "cid", "basket": 1.0}, {"user_id": "ghost", "basket": 1.0}]
    refused = await http.post(PREDICT, json={"inputs": inputs})
    assert refused.status_code == 422
    problem = refused.json()
    assert "'age'" in problem["detail"] and "'ghost'" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "inputs", 1, "age"]
    no_id = await http.post(PREDICT, json={"inputs": [{"basket": 1.0}]})
    assert no_id.status_code == 422 and "user_id" in no_id.text


async def test_bad_rows_are_refused_whole_naming_row_and_field(http: httpx.AsyncClient) -> None:
    rows = [{"user_id": "dan", "age": 50}, {"user_id": "eve", "age": "old"},
            {"user_id": "fay", "height": 2}]  # fmt: skip
    refused = await http.put("/v1/features/users", json={"rows": rows})
    assert refused.status_code == 422
    locs = [e["loc"] for e in refused.json()["errors"]]
    assert [1, "age"] in locs and [2, "height"] in locs
    read = await http.post("/v1/features/users/read", json={"ids": ["dan"]})
    assert read.json()["entities"]["dan"]["values"] == {}  # nothing of the call was written
    unknown = await http.put("/v1/features/nope", json={"rows": [{"x": 1}]})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_feature_view"


async def test_a_tenant_reads_only_its_own_features(
    service: Service, http: httpx.AsyncClient
) -> None:
    await http.put("/v1/features/users", json={"rows": [{"user_id": "gus", "age": 60}]})
    made = await asyncio.to_thread(
        httpx.post,
        service.admin_url + "/admin/tenants",
        json={"name": f"other-{uuid.uuid4().hex[:6]}"},
        headers=service.admin_headers,
    )
    other = {"Authorization": f"Bearer {made.json()['key']['key']}"}
    theirs = await http.post(
        PREDICT, json={"inputs": [{"user_id": "gus", "basket": 1.0}]}, headers=other
    )
    assert theirs.status_code == 422  # gus has no age for the other tenant
    mine = await http.post(PREDICT, json={"inputs": [{"user_id": "gus", "basket": 1.0}]})
    assert mine.json()["outputs"][0]["score"] == 61.0


async def test_concurrent_single_item_requests_all_join(http: httpx.AsyncClient) -> None:
    users = [{"user_id": f"u{i}", "age": i, "spend": 1.0} for i in range(40)]
    await http.put("/v1/features/users", json={"rows": users})
    answers = await asyncio.gather(
        *(http.post(PREDICT, json={"inputs": [{"user_id": f"u{i}", "basket": 0.0}]})
          for i in range(40))
    )  # fmt: skip
    assert [a.json()["outputs"][0]["score"] for a in answers] == [i + 1.0 for i in range(40)]
