"""The job history through a real service on Redis, with PostgreSQL (both real): a job is
still found after Redis has let it go, a tenant lists its jobs, bad queries are 422."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from redis.asyncio import Redis

from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import Service, running_service, running_workers, tenants_command
from tests.helpers import delete_redis_prefix

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"


@pytest.fixture(scope="module")
def deployment(redis_url: str, pg_url: str) -> Iterator[dict[str, str]]:
    """The environment of a deployment with its own Redis prefix and PostgreSQL schema."""
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    schema = f"sstest_history_{uuid.uuid4().hex[:8]}"
    yield {
        "SCALESERVE_REDIS_URL": redis_url,
        "SCALESERVE_REDIS_PREFIX": prefix,
        "SCALESERVE_JOBS_HISTORY_URL": pg_url,
        "SCALESERVE_JOBS_HISTORY_SCHEMA": schema,
    }
    delete_redis_prefix(redis_url, prefix)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def service(deployment: dict[str, str]) -> Iterator[Service]:
    with (
        running_workers(PROBE, args=["--workers", "1"], env=deployment),
        running_service(PROBE, command="api", env=deployment, auth=True) as gateway,
    ):
        yield gateway


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=service.base_url, headers=service.headers, timeout=60
    ) as http:
        yield http


def probe(value: int) -> dict[str, Any]:
    return {"model": "probe", "inputs": [{"value": value}]}


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/v1/jobs", params=params)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


async def until_copied(client: httpx.AsyncClient, job_ids: set[str], since: float) -> None:
    """Poll the list until the history has every one of ``job_ids`` (another process copies
    them: there is no event to await here)."""
    async with asyncio.timeout(20):
        while True:
            page = await listed(client, since=repr(since), limit=500)
            if job_ids <= {job["id"] for job in page["jobs"]}:
                return
            await asyncio.sleep(0.05)


async def forget_in_redis(deployment: dict[str, str], job_id: str) -> None:
    """Remove the job from Redis, as its retention running out does."""
    keys = RedisKeys(deployment["SCALESERVE_REDIS_PREFIX"])
    redis = Redis.from_url(deployment["SCALESERVE_REDIS_URL"])
    try:
        names = [keys.job(job_id), keys.job_outputs(job_id), keys.job_events(job_id)]
        assert await redis.delete(*names) >= 1
    finally:
        await redis.aclose()


async def test_an_ended_job_is_found_after_redis_let_it_go(
    client: httpx.AsyncClient, service: Service, deployment: dict[str, str]
) -> None:
    started = time.time()
    answer = await client.post("/v1/jobs", json=probe(7), headers={"Prefer": "wait=30"})
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    before = await client.get(f"/v1/jobs/{job_id}")
    await until_copied(client, {job_id}, started)
    await forget_in_redis(deployment, job_id)

    after = await client.get(f"/v1/jobs/{job_id}")
    assert after.status_code == 200, after.text
    assert after.content == before.content  # the same body, byte for byte
    assert after.json()["status"] == "succeeded"
    assert after.json()["outputs"][0]["value"] == 7
    unknown = "0" * 32
    many = (await client.get("/v1/jobs", params={"ids": f"{job_id},{unknown}"})).json()
    assert many == {"jobs": [before.json()], "not_found": [unknown]}
    events = await client.get(f"/v1/jobs/{job_id}/events")  # its final state, then the end
    assert events.text == f"id: 1\nevent: succeeded\ndata: {before.text}\n\n"
    cancel = await client.delete(f"/v1/jobs/{job_id}")
    assert cancel.status_code == 409 and cancel.json()["code"] == "job_not_cancellable"

    other = tenants_command("create", f"other-{uuid.uuid4().hex[:6]}", env=deployment)["key"]
    as_other = {"Authorization": f"Bearer {other}"}
    theirs = await client.get(f"/v1/jobs/{job_id}", headers=as_other)
    assert theirs.status_code == 404 and theirs.json()["code"] == "job_not_found"
    their_list = await client.get("/v1/jobs", headers=as_other)
    assert their_list.json() == {"jobs": [], "next_cursor": None}


async def test_a_tenant_lists_its_jobs_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    started = time.time()
    batch = {"jobs": [probe(n) for n in range(5)]}
    accepted = await client.post("/v1/jobs/batch", json=batch)
    assert accepted.status_code == 202, accepted.text
    ids = accepted.json()["ids"]
    await until_copied(client, set(ids), started)

    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": "succeeded", "since": repr(started), "limit": 2}
        page = await listed(client, **params, **({"cursor": cursor} if cursor else {}))
        walked += page["jobs"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(job["id"] for job in walked) == sorted(ids)  # no job twice, none missed
    created = [(job["created_at"], job["id"]) for job in walked]
    assert created == sorted(created, reverse=True)  # newest first
    assert all("outputs" in job for job in walked)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started + 3600))
    assert (await listed(client, since=iso))["jobs"] == []
    assert (await listed(client, status="failed", since=repr(started)))["jobs"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "finished"}, "status"),
        ({"since": "last tuesday"}, "since"),
        ({"since": "nan"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'[1.5, "../etc"]').decode()}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"ids": "0" * 32, "status": "succeeded"}, "status"),
        ({"ids": "0" * 32, "cursor": "abc"}, "cursor"),
    ],
)
async def test_a_bad_list_query_is_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    answer = await client.get("/v1/jobs", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "invalid_input"
    assert ["query", parameter] in [error["loc"] for error in problem["errors"]]


async def test_the_openapi_document_describes_the_list(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    read = document["paths"]["/v1/jobs"]["get"]
    assert {p["name"] for p in read["parameters"]} >= {"ids", "status", "since", "limit", "cursor"}
    assert "JobPage" in document["components"]["schemas"]
    assert {"422", "501"} <= set(read["responses"])


def test_without_a_history_listing_on_redis_says_how_to_get_one(
    service: Service, deployment: dict[str, str]
) -> None:
    plain = {k: v for k, v in deployment.items() if "HISTORY" not in k}
    with running_service(PROBE, command="api", env=plain) as gateway:
        answer = httpx.get(gateway.base_url + "/v1/jobs", timeout=30)
    assert answer.status_code == 501
    assert answer.json()["code"] == "no_job_history"
    assert "SCALESERVE_JOBS_HISTORY_URL" in answer.json()["detail"]
