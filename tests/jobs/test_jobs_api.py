"""Async jobs through a real service: submit, follow, cancel, expire, survive a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from scaleserve.testing import Service, running_service, tenants_command

FIXTURE_APP = str(Path(__file__).parents[1] / "fixtures" / "app.py")


@pytest.fixture(scope="module")
def jobs_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("jobs")
    with running_service(FIXTURE_APP, args=["--data-dir", str(data_dir)]) as service:
        yield service


@pytest.fixture
async def client(jobs_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=jobs_service.base_url, timeout=60) as http:
        yield http


async def submit(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["location"] == accepted["links"]["self"] == f"/v1/jobs/{accepted['id']}"
    return str(accepted["id"])


async def events(
    client: httpx.AsyncClient,
    job_id: str,
    last_event_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Read the job's SSE stream (from ``last_event_id``) until it ends or ``limit`` events."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    received: list[dict[str, Any]] = []
    async with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = orjson.loads(line[6:])
            elif line == "" and event:
                received.append(event)
                event = {}
                if limit is not None and len(received) >= limit:
                    break
    return received


async def finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    final = (await events(client, job_id))[-1]["data"]
    assert final["status"] in {"succeeded", "failed", "expired", "cancelled"}
    return final


async def test_job_runs_and_its_result_can_be_read_and_streamed(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, model="probe", inputs=[{"value": 1}, {"value": 2}])
    stream = await events(client, job_id)
    assert [e["event"] for e in stream] == ["queued", "running", "succeeded"]
    assert [e["id"] for e in stream] == [1, 2, 3]
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert [o["value"] for o in job["outputs"]] == [1, 2]
    assert job["created_at"] <= job["started_at"] <= job["finished_at"] < job["expires_at"]
    assert stream[-1]["data"] == job


async def test_reconnecting_with_last_event_id_misses_nothing(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, model="probe", inputs=[{"value": 5, "sleep_ms": 300}])
    first = await events(client, job_id, limit=1)
    assert [e["id"] for e in first] == [1]
    rest = await events(client, job_id, last_event_id=first[-1]["id"])
    assert [e["id"] for e in rest] == list(range(2, 2 + len(rest)))
    assert rest[-1]["event"] == "succeeded"


async def test_job_ids_are_128_bit_random(client: httpx.AsyncClient) -> None:
    ids = {await submit(client, model="double", inputs=[1]) for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_model_error_fails_the_job_with_the_error(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, model="probe", inputs=[{"value": 1, "fail": True}])
    job = await finished(client, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "model_error"
    assert "ValueError: asked to fail" in job["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nope", "inputs": [1]}, 404, "unknown_model"),
        ({"model": "../../etc", "inputs": [1]}, 422, "invalid_input"),
        ({"model": "probe", "inputs": [{"value": "x"}]}, 422, "invalid_input"),
        ({"model": "probe", "inputs": []}, 422, "invalid_input"),
        ({"model": "probe", "inputs": [{"value": 1}], "deadline_s": -1}, 422, "invalid_input"),
        ({"model": "probe", "inputs": [{"value": 1}], "surprise": 1}, 422, "invalid_input"),
    ],
)
async def test_bad_submissions_are_refused_clearly(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_unknown_or_malformed_job_ids_are_404(client: httpx.AsyncClient) -> None:
    for job_id in ("0" * 32, "not-a-job", "../../etc/passwd"):
        assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 404
        assert (await client.delete(f"/v1/jobs/{job_id}")).status_code == 404
        assert (await client.get(f"/v1/jobs/{job_id}/events")).status_code == 404


async def test_finished_job_cannot_be_cancelled(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, model="double", inputs=[2])
    await finished(client, job_id)
    response = await client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 409
    assert response.json()["code"] == "job_not_cancellable"


@pytest.fixture
async def one_at_a_time(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A service that runs one job of a model at a time, so later jobs stay queued."""
    env = {"SCALESERVE_JOB_MAX_RUNNING": "1"}
    with running_service(
        f"{FIXTURE_APP}:Probe", args=["--data-dir", str(tmp_path)], env=env
    ) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as http:
            yield http


async def test_queued_job_can_be_cancelled_and_never_runs(one_at_a_time: httpx.AsyncClient) -> None:
    client = one_at_a_time
    blocker = await submit(client, model="probe", inputs=[{"value": 1, "sleep_ms": 1500}])
    victim = await submit(client, model="probe", inputs=[{"value": 2}])
    cancelled = await client.delete(f"/v1/jobs/{victim}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await finished(client, blocker))["status"] == "succeeded"
    job = (await client.get(f"/v1/jobs/{victim}")).json()
    assert job["status"] == "cancelled" and job["attempts"] == 0 and job["started_at"] is None


async def test_job_past_its_deadline_is_never_run(one_at_a_time: httpx.AsyncClient) -> None:
    client = one_at_a_time
    blocker = await submit(client, model="probe", inputs=[{"value": 1, "sleep_ms": 1500}])
    late = await submit(client, model="probe", inputs=[{"value": 2}], deadline_s=0.3)
    job = await finished(client, late)
    assert job["status"] == "expired"
    assert job["attempts"] == 0 and job["started_at"] is None
    assert job["error"]["code"] == "deadline_exceeded"
    assert (await finished(client, blocker))["status"] == "succeeded"


async def test_results_are_removed_after_their_retention(tmp_path: Path) -> None:
    env = {"SCALESERVE_JOB_RESULT_TTL_S": "0.2", "SCALESERVE_JOB_SWEEP_INTERVAL_S": "0.1"}
    with running_service(
        f"{FIXTURE_APP}:Double", args=["--data-dir", str(tmp_path)], env=env
    ) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            job_id = await submit(client, model="double", inputs=[1])
            assert (await finished(client, job_id))["status"] == "succeeded"
            for _ in range(600):  # the sweeper runs every 0.1 s; allow a loaded machine 30 s
                if (await client.get(f"/v1/jobs/{job_id}")).status_code == 404:
                    break
                await asyncio.sleep(0.05)
            assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 404


async def test_accepted_jobs_survive_kill_9_of_the_whole_service(tmp_path: Path) -> None:
    env = {"SCALESERVE_JOB_MAX_RUNNING": "1"}
    args = ["--data-dir", str(tmp_path)]
    with running_service(f"{FIXTURE_APP}:Probe", args=args, env=env) as first:
        async with httpx.AsyncClient(base_url=first.base_url, timeout=60) as client:
            ids = [
                await submit(client, model="probe", inputs=[{"value": n, "sleep_ms": 100}])
                for n in range(20)
            ]
        first.process.kill()  # SIGKILL: no drain, no goodbye
        first.process.wait()
    with running_service(f"{FIXTURE_APP}:Probe", args=args) as second:
        async with httpx.AsyncClient(base_url=second.base_url, timeout=60) as client:
            jobs = [await finished(client, job_id) for job_id in ids]
        assert "taking up" in second.logs()
    assert [j["status"] for j in jobs] == ["succeeded"] * 20
    assert [j["outputs"][0]["value"] for j in jobs] == list(range(20))


async def test_job_whose_worker_is_killed_runs_again(tmp_path: Path) -> None:
    with running_service(f"{FIXTURE_APP}:Probe", args=["--data-dir", str(tmp_path)]) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            job_id = await submit(client, model="probe", inputs=[{"value": 3, "sleep_ms": 3000}])
            first = await events(client, job_id, limit=2)
            assert first[-1]["event"] == "running"
            [victim] = service.worker_pids("probe")
            os.kill(victim, signal.SIGKILL)
            job = await finished(client, job_id)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 2
    assert job["outputs"][0]["value"] == 3
    assert job["outputs"][0]["pid"] != victim


async def test_poison_job_fails_after_its_attempts_without_holding_up_others(
    tmp_path: Path,
) -> None:
    with running_service(f"{FIXTURE_APP}:Probe", args=["--data-dir", str(tmp_path)]) as service:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            poison = await submit(client, model="probe", inputs=[{"value": 0, "crash": True}])
            healthy = [
                await submit(client, model="probe", inputs=[{"value": n}]) for n in range(1, 4)
            ]
            poisoned = await finished(client, poison)
            others = [await finished(client, job_id) for job_id in healthy]
    assert poisoned["status"] == "failed"
    assert poisoned["attempts"] == 3
    assert "worker died" in poisoned["error"]["message"]
    assert [j["status"] for j in others] == ["succeeded"] * 3


async def submit_batch(client: httpx.AsyncClient, jobs: list[dict[str, Any]]) -> list[str]:
    response = await client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and len(accepted["ids"]) == len(jobs)
    return [str(job_id) for job_id in accepted["ids"]]


async def read_many(client: httpx.AsyncClient, ids: list[str]) -> dict[str, Any]:
    response = await client.get("/v1/jobs", params={"ids": ",".join(ids)})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_batch_of_jobs_runs_and_is_read_back_in_one_request(
    client: httpx.AsyncClient,
) -> None:
    ids = await submit_batch(
        client,
        [
            {"model": "probe", "inputs": [{"value": 1}, {"value": 2}]},
            {"model": "double", "inputs": [21]},
            {"model": "probe", "inputs": [{"value": 3}], "deadline_s": 60},
        ],
    )
    assert len(set(ids)) == 3
    finals = [await finished(client, job_id) for job_id in ids]
    assert [j["status"] for j in finals] == ["succeeded"] * 3
    unknown, malformed = "0" * 32, "../../etc"
    read = await read_many(client, [ids[2], unknown, ids[0], malformed, ids[1], ids[0]])
    assert [j["id"] for j in read["jobs"]] == [ids[2], ids[0], ids[1]]
    assert read["not_found"] == [unknown, malformed]
    assert [o["value"] for o in read["jobs"][1]["outputs"]] == [1, 2]
    assert read["jobs"][2]["outputs"] == [42]
    assert read["jobs"][1] == (await client.get(f"/v1/jobs/{ids[0]}")).json()


@pytest.mark.parametrize(
    ("jobs", "status", "where"),
    [
        ([{"model": "double", "inputs": [1]}, {"model": "nope", "inputs": [1]}], 422, "jobs.1"),
        ([{"model": "double", "inputs": [1]}, {"model": "double", "inputs": ["x"]}], 422, "jobs.1"),
        ([{"model": "probe", "inputs": [{"value": "x"}]}], 422, "jobs.0.inputs.0"),
        ([], 422, None),  # these three the schema refuses, before any job is looked at
        ([{"model": "double", "inputs": []}], 422, None),
        ([{"model": "double", "inputs": [1], "surprise": True}], 422, None),
    ],
)
async def test_a_batch_with_one_bad_job_is_refused_whole(
    client: httpx.AsyncClient, jobs: list[dict[str, Any]], status: int, where: str | None
) -> None:
    response = await client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert response.status_code == status, response.text
    assert response.json()["code"] == "invalid_input"
    assert where is None or f"body.{where}" in response.json()["detail"]


async def test_reads_of_too_many_ids_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs", params={"ids": ",".join(["0" * 32] * 101)})
    assert response.status_code == 200  # the same id 101 times is one id
    response = await client.get(
        "/v1/jobs", params={"ids": ",".join(f"{n:032x}" for n in range(101))}
    )
    assert response.status_code == 422
    # without ids the route lists the caller's jobs (see test_job_list.py)
    assert "next_cursor" in (await client.get("/v1/jobs")).json()


async def test_compute_seconds_of_jobs_count_as_the_tenants_usage(
    client: httpx.AsyncClient,
) -> None:
    before = await probe_usage(client)
    job_id = await submit(client, model="probe", inputs=[{"value": 1, "sleep_ms": 200}])
    assert (await finished(client, job_id))["status"] == "succeeded"
    for _ in range(300):  # the usage recorder flushes once a second
        if (after := await probe_usage(client))["compute_s"] >= before["compute_s"] + 0.2:
            break
        await asyncio.sleep(0.1)
    assert after["requests"] == before["requests"] + 1
    assert after["items"] == before["items"] + 1
    assert after["compute_s"] < before["compute_s"] + 5


async def probe_usage(client: httpx.AsyncClient) -> dict[str, Any]:
    rows = (await client.get("/v1/usage")).json()["data"]
    empty = {"requests": 0, "items": 0, "compute_s": 0.0}
    return next((row for row in rows if row["model"] == "probe"), empty)


async def test_a_tenant_reads_only_its_own_jobs_in_bulk(tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path)]
    with running_service(f"{FIXTURE_APP}:Double", args=args, auth=True) as service:
        other = tenants_command("create", "other", data_dir=str(tmp_path))["key"]
        async with (
            httpx.AsyncClient(base_url=service.base_url, headers=service.headers) as mine,
            httpx.AsyncClient(
                base_url=service.base_url, headers={"Authorization": f"Bearer {other}"}
            ) as theirs,
        ):
            ids = await submit_batch(mine, [{"model": "double", "inputs": [n]} for n in range(3)])
            [their_id] = await submit_batch(theirs, [{"model": "double", "inputs": [9]}])
            assert (await read_many(theirs, ids)) == {"jobs": [], "not_found": ids}
            read = await read_many(mine, [*ids, their_id])
            assert [j["id"] for j in read["jobs"]] == ids
            assert read["not_found"] == [their_id]
            listed = (await mine.get("/v1/jobs")).json()
            assert sorted(j["id"] for j in listed["jobs"]) == sorted(ids)
            assert [j["id"] for j in (await theirs.get("/v1/jobs")).json()["jobs"]] == [their_id]


async def test_embedded_jobs_are_listed_newest_first_a_page_at_a_time(
    client: httpx.AsyncClient,
) -> None:
    since = (await client.post("/v1/jobs", json={"model": "double", "inputs": [0]})).json()
    ids = [since["id"]] + [await submit(client, model="double", inputs=[n]) for n in range(2)]
    params = {"since": repr(since["created_at"]), "limit": 2}
    first = (await client.get("/v1/jobs", params=params)).json()
    assert first["next_cursor"] is not None
    second = (
        await client.get("/v1/jobs", params={**params, "cursor": first["next_cursor"]})
    ).json()
    assert second["next_cursor"] is None
    assert [j["id"] for j in first["jobs"] + second["jobs"]] == ids[::-1]
    queued_or_not = await client.get("/v1/jobs", params={"status": "queued", "limit": 500})
    assert queued_or_not.status_code == 200  # embedded, every job kept is listed, ended or not
