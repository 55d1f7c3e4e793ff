"""``Prefer: wait=N`` on the job routes, embedded and on Redis: a client gets a job's result
in the request that submits it (or in one read), without polling."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import MAX_WAIT_S


def probe(value: int, sleep_ms: float = 0, **extra: Any) -> dict[str, Any]:
    return {"model": "probe", "inputs": [{"value": value, "sleep_ms": sleep_ms, **extra}]}


async def test_a_job_that_ends_within_the_wait_comes_back_ended(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/jobs", json=probe(7), headers={"Prefer": "wait=30"})
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["status"] == "succeeded"
    assert [o["value"] for o in job["outputs"]] == [7]
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    assert answer.headers["preference-applied"] == f"wait={MAX_WAIT_S}"  # 30, capped
    assert (await client.get(f"/v1/jobs/{job['id']}")).json() == job


async def test_a_failed_job_comes_back_with_its_error(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/jobs", json=probe(1, fail=True), headers={"Prefer": "wait=2"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "failed"
    assert answer.json()["error"]["code"] == "model_error"


async def test_a_job_longer_than_the_wait_is_202_then_a_waiting_read_gets_it(
    client: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    body, prefer = probe(3, sleep_ms=3000), {"Prefer": "wait=1"}
    answer = await client.post("/v1/jobs", json=body, headers=prefer)
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - started >= 1  # it did wait
    assert answer.json()["status"] in {"queued", "running"}
    assert answer.headers["preference-applied"] == "wait=1"
    job_id = answer.json()["id"]
    for _ in range(10):  # each read waits up to the cap (2 s); the job ends ~2 s from now
        read = await client.get(f"/v1/jobs/{job_id}", headers={"Prefer": "wait=60"})
        assert read.status_code == 200
        if read.json()["status"] not in {"queued", "running"}:
            break
    assert read.json()["status"] == "succeeded"
    assert [o["value"] for o in read.json()["outputs"]] == [3]


async def test_many_waiting_submissions_all_get_their_own_result(
    client: httpx.AsyncClient,
) -> None:
    # jobs run in batches of up to 8: every waiter must be woken by its own job's end
    answers = await asyncio.gather(
        *(
            client.post("/v1/jobs", json=probe(n, sleep_ms=20), headers={"Prefer": "wait=2"})
            for n in range(40)
        )
    )
    assert [a.status_code for a in answers] == [201] * 40
    assert [a.json()["outputs"][0]["value"] for a in answers] == list(range(40))


@pytest.mark.parametrize(
    "prefer", ["wait=abc", "wait=-1", "wait=1.5", "respond-async", "wait", "wait=" + "9" * 20]
)
async def test_a_wait_it_cannot_read_is_ignored(client: httpx.AsyncClient, prefer: str) -> None:
    answer = await client.post("/v1/jobs", json=probe(1, sleep_ms=500), headers={"Prefer": prefer})
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    assert "preference-applied" not in answer.headers


async def test_wait_is_found_among_other_preferences(client: httpx.AsyncClient) -> None:
    prefer = 'respond-async, handling=lenient; x=1, WAIT="2"'
    answer = await client.post("/v1/jobs", json=probe(4), headers={"Prefer": prefer})
    assert answer.status_code == 201, answer.text
    assert answer.headers["preference-applied"] == "wait=2"


async def test_waiting_on_a_job_that_does_not_exist_is_404_at_once(
    client: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    answer = await client.get("/v1/jobs/" + "0" * 32, headers={"Prefer": "wait=2"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "job_not_found"
    assert time.monotonic() - started < 1.5
