"""``Idempotency-Key`` on ``POST /v1/jobs`` and ``/v1/jobs/batch``, embedded and on Redis: a
submission sent again (a retry after a timeout) answers the first one's jobs, never a
second copy, even when the copies race; the key sent with another submission is refused."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from scaleserve.jobs.idempotency import keyed
from scaleserve.jobs.record import Job, JobStatus, is_job_id

REPLAYED = "idempotent-replayed"


def fresh_key() -> str:
    return f"order-{uuid.uuid4().hex}"


async def test_a_submission_sent_again_answers_the_first_job(client: httpx.AsyncClient) -> None:
    key = fresh_key()
    body = {"model": "probe", "inputs": [{"value": 7}]}
    first = await client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    assert REPLAYED not in first.headers
    ended = await client.get(first.headers["location"], headers={"Prefer": "wait=2"})
    assert ended.json()["status"] == "succeeded"
    again = await client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 202, again.text
    assert again.headers[REPLAYED] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "succeeded"  # the first job, as it is now
    waited = await client.post(
        "/v1/jobs", json=body, headers={"Idempotency-Key": key, "Prefer": "wait=2"}
    )
    assert waited.status_code == 201
    assert waited.json()["outputs"][0]["value"] == 7


async def test_copies_that_race_make_one_job(client: httpx.AsyncClient) -> None:
    key = fresh_key()
    body = {"model": "probe", "inputs": [{"value": 1}, {"value": 2}]}
    answers = await asyncio.gather(
        *(client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key}) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(REPLAYED not in a.headers for a in answers) == 1  # the one that recorded it


async def test_the_key_sent_with_another_submission_is_refused(client: httpx.AsyncClient) -> None:
    key = fresh_key()
    headers = {"Idempotency-Key": key}
    first = await client.post(
        "/v1/jobs", json={"model": "probe", "inputs": [{"value": 1}]}, headers=headers
    )
    assert first.status_code == 202
    other = await client.post(
        "/v1/jobs", json={"model": "probe", "inputs": [{"value": 2}]}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9".encode("latin-1")])
async def test_a_malformed_key_is_refused(client: httpx.AsyncClient, key: str | bytes) -> None:
    body = {"model": "probe", "inputs": [{"value": 1}]}
    for route, sent in (("/v1/jobs", body), ("/v1/jobs/batch", {"jobs": [body]})):
        answer = await client.post(route, json=sent, headers={"Idempotency-Key": key})
        assert answer.status_code in (400, 422), (route, answer.text)
        assert answer.headers["content-type"].endswith("json")


async def test_a_batch_sent_again_answers_the_first_batch(client: httpx.AsyncClient) -> None:
    key = fresh_key()
    batch = {"jobs": [{"model": "probe", "inputs": [{"value": n}]} for n in range(3)]}
    first = await client.post("/v1/jobs/batch", json=batch, headers={"Idempotency-Key": key})
    again = await client.post("/v1/jobs/batch", json=batch, headers={"Idempotency-Key": key})
    other = await client.post(
        "/v1/jobs/batch", json=batch, headers={"Idempotency-Key": fresh_key()}
    )
    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 202)
    assert again.json()["ids"] == first.json()["ids"]
    assert again.headers[REPLAYED] == "true"
    assert set(other.json()["ids"]).isdisjoint(first.json()["ids"])
    changed = {"jobs": [*batch["jobs"][:2], {"model": "probe", "inputs": [{"value": 9}]}]}
    refused = await client.post("/v1/jobs/batch", json=changed, headers={"Idempotency-Key": key})
    assert refused.status_code == 422
    assert refused.json()["code"] == "idempotency_key_reused"


def test_keyed_ids_are_job_ids_of_their_tenant_and_place() -> None:
    job = Job("x", "acme", "probe", JobStatus.QUEUED, b"[1]", 1.0, 2.0)
    [a0, a1] = keyed([job, job], "k")
    [b0] = keyed([Job("x", "other", "probe", JobStatus.QUEUED, b"[1]", 1.0, 2.0)], "k")
    assert all(is_job_id(j.id) for j in (a0, a1, b0))
    assert len({a0.id, a1.id, b0.id}) == 3
    assert keyed([job], "k")[0].id == a0.id
