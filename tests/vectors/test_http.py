"""``/v1/collections`` on a real service: the embeddings example (MiniLM) embeds texts,
tenants authenticate with their own keys, and bad input gets the problem it deserves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service
from scaleserve.vectors.records import MAX_POINTS_PER_CALL

C = "/v1/collections"
EMBEDDINGS = Path(__file__).parents[2] / "examples" / "embeddings"
DOCS = [
    ("cat", "Cats are small domesticated carnivores that purr.", {"kind": "animal", "year": 2001}),
    ("dog", "Dogs are loyal animals that bark and fetch.", {"kind": "animal", "year": 2010}),
    ("tea", "Green tea is brewed from the leaves of a shrub.", {"kind": "drink", "year": 2005}),
    ("rust", "Rust is a systems programming language.", {"kind": "code", "year": 2015}),
]


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    env = {"HF_HUB_OFFLINE": "1"}
    with running_service(EMBEDDINGS, env=env, auth=True) as running:
        yield running


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=service.base_url, headers=service.headers, timeout=60
    ) as client:
        yield client


async def _new_tenant(service: Service, name: str) -> dict[str, str]:
    made = await asyncio.to_thread(
        httpx.post,
        service.admin_url + "/admin/tenants",
        json={"name": name},
        headers=service.admin_headers,
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']['key']}"}


async def _docs(http: httpx.AsyncClient, name: str) -> None:
    created = await http.post(C, json={"name": name, "model": "embeddings"})
    assert created.status_code == 201, created.text
    assert created.json()["dimension"] == 384  # learnt from the model
    points = [{"id": i, "text": t, "payload": p} for i, t, p in DOCS]
    upserted = await http.put(C + f"/{name}/points", json={"points": points})
    assert upserted.json() == {"upserted": 4}


async def test_texts_are_embedded_stored_and_found_by_meaning(http: httpx.AsyncClient) -> None:
    await _docs(http, "pets")
    found = await http.post(C + "/pets/query", json={"text": "a feline pet", "k": 2})
    hits = found.json()["hits"]
    assert hits[0]["id"] == "cat"
    assert hits[0]["payload"]["text"] == DOCS[0][1] and hits[0]["payload"]["kind"] == "animal"
    only_drinks = {"text": "a feline pet", "k": 3, "filter": {"kind": {"in": ["drink", "code"]}}}
    ids = [h["id"] for h in (await http.post(C + "/pets/query", json=only_drinks)).json()["hits"]]
    assert sorted(ids) == ["rust", "tea"]
    recent = {"filter": {"and": [{"kind": "animal"}, {"year": {"gte": 2005}}]}}
    assert (await http.post(C + "/pets/count", json=recent)).json() == {"count": 1}
    info = (await http.get(C + "/pets")).json()
    assert info["count"] == 4 and info["fields"] == {
        "text": "keyword", "kind": "keyword", "year": "number",
    }  # fmt: skip
    got = await http.post(C + "/pets/points/get", json={"ids": ["tea"], "with_vector": True})
    [tea] = got.json()["points"]
    assert len(tea["vector"]) == 384 and tea["payload"]["kind"] == "drink"
    gone = await http.post(C + "/pets/points/delete", json={"ids": ["tea", "nope"]})
    assert gone.json() == {"deleted": 1}
    assert [c["name"] for c in (await http.get(C)).json()["collections"]] == ["pets"]
    assert (await http.delete(C + "/pets")).status_code == 204
    assert (await http.get(C + "/pets")).status_code == 404


async def test_vectors_without_a_model(http: httpx.AsyncClient) -> None:
    created = await http.post(C, json={"name": "plain", "dimension": 3, "metric": "l2"})
    assert created.status_code == 201
    points = [{"id": "a", "vector": [0, 0, 0]}, {"id": "b", "vector": [1, 1, 1]}]
    assert (await http.put(C + "/plain/points", json={"points": points})).status_code == 200
    near = await http.post(C + "/plain/query", json={"vector": [0.9, 1, 1], "k": 1})
    assert near.json()["hits"][0]["id"] == "b"
    await http.delete(C + "/plain")


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


async def test_bad_input_gets_a_clear_problem(http: httpx.AsyncClient) -> None:
    await http.post(C, json={"name": "strict", "dimension": 3})
    await http.put(C + "/strict/points", json={"points": [{"id": "a", "vector": [1, 2, 3],
                                                       "payload": {"year": 2000}}]})  # fmt: skip
    wrong = await http.put(C + "/strict/points", json={"points": [{"id": "b", "vector": [1, 2]}]})
    assert _problem(wrong, 422)["errors"][0]["loc"] == ["body", "points", 0, "vector"]
    short_query = await http.post(C + "/strict/query", json={"vector": [1, 2]})
    assert _problem(short_query, 422)["errors"][0]["loc"] == ["body", "vector"]
    _problem(await http.post(C + "/missing/query", json={"vector": [1, 2, 3]}), 404)
    _problem(
        await http.put(C + "/missing/points", json={"points": [{"id": "a", "vector": [1]}]}), 404
    )
    unknown_field = await http.post(C + "/strict/query", json={"vector": [1, 2, 3],
                                                          "filter": {"colour": "red"}})  # fmt: skip
    assert _problem(unknown_field, 422)["errors"][0]["loc"] == ["body", "filter", "colour"]
    wrong_type = {"vector": [1, 2, 3], "filter": {"or": [{"year": {"gte": "old"}}]}}
    body = _problem(await http.post(C + "/strict/query", json=wrong_type), 422)
    assert body["errors"][0]["loc"] == ["body", "filter", "or", 0, "year", "gte"]
    too_many = [{"id": f"p{i}", "vector": [1, 2, 3]} for i in range(MAX_POINTS_PER_CALL + 1)]
    _problem(await http.put(C + "/strict/points", json={"points": too_many}), 413)
    both = {"points": [{"id": "x", "vector": [1, 2, 3], "text": "hello"}]}
    _problem(await http.put(C + "/strict/points", json=both), 422)
    no_model = await http.put(C + "/strict/points", json={"points": [{"id": "x", "text": "hello"}]})
    assert "no embedding model" in _problem(no_model, 422)["detail"]
    _problem(await http.post(C, json={"name": "Bad Name!", "dimension": 3}), 422)
    _problem(await http.post(C, json={"name": "strict", "dimension": 3}), 409)
    _problem(await http.post(C, json={"name": "nodim"}), 422)
    _problem(await http.post(C + "/strict/query", json={"vector": [1, 2, 3], "k": 0}), 422)
    _problem(await http.post(C + "/strict/query", content=b"{not json"), 400)
    assert (await http.post(C + "/strict/count", json={})).json() == {"count": 1}  # nothing lost


async def test_a_tenant_cannot_reach_another_tenants_collections(
    service: Service, http: httpx.AsyncClient
) -> None:
    await _docs(http, "private")
    other = await _new_tenant(service, "vectors-other")
    assert (await http.get(C, headers=other)).json() == {"collections": []}
    _problem(await http.get(C + "/private", headers=other), 404)
    _problem(await http.post(C + "/private/query", json={"text": "cats"}, headers=other), 404)
    delete = {"ids": ["cat"]}
    _problem(await http.post(C + "/private/points/delete", json=delete, headers=other), 404)
    _problem(await http.delete(C + "/private", headers=other), 404)
    _problem(await http.get(C, headers={"Authorization": "Bearer nope"}), 401)
    assert (await http.get(C + "/private")).json()["count"] == 4


async def test_the_openapi_document_types_the_routes(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    paths = document["paths"]
    assert {"/v1/collections", "/v1/collections/{name}/query"} <= set(paths)
    query = paths["/v1/collections/{name}/query"]["post"]
    assert query["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "QueryBody"
    )
    assert "HitOut" in document["components"]["schemas"]
