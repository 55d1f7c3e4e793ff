"""Tenancy in a real service: keys, isolation between tenants, the admin listener, limits
and usage, over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from scaleserve.testing import Service, running_service
from tests.helpers import wait_for_metric

APP = Path(__file__).parent / "app.py"
PRICED = "/v1/models/priced/predict"


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(APP, auth=True) as running:
        yield running


@pytest.fixture
async def admin(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=service.admin_url, headers=service.admin_headers, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API listener with no key of its own: each request brings its headers."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        yield client


async def new_tenant(admin: httpx.AsyncClient, name: str, **limits: Any) -> dict[str, str]:
    """Headers of a new tenant's first key."""
    response = await admin.post("/admin/tenants", json={"name": name, "limits": limits})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']['key']}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def inputs(*texts: str, sleep_ms: float = 0) -> dict[str, Any]:
    return {"inputs": [{"text": t, "sleep_ms": sleep_ms} for t in texts]}


async def test_every_bad_key_gets_the_same_401(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, service: Service
) -> None:
    revoked = await new_tenant(admin, unique("gone"))
    key_id = revoked["Authorization"].split("_")[1]
    assert (await admin.delete(f"/admin/keys/{key_id}")).status_code == 200
    await asyncio.sleep(0)  # the revocation was made on this gateway: effective at once
    attempts = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer ss_00000000_" + "A" * 43},
        revoked,
    ]
    bodies = set()
    for headers in attempts:
        response = await http.post(PRICED, json=inputs("x"), headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        bodies.add(response.content)
    assert len(bodies) == 1
    ok = await http.post(PRICED, json=inputs("x"), headers=service.headers)
    assert ok.status_code == 200


async def test_only_health_and_docs_are_open(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await http.get(path)).status_code == 200
    for method, path in [
        ("GET", "/v1/models"),
        ("GET", "/metrics"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/jobs/" + "0" * 32),
        ("POST", "/v1/jobs"),
        ("POST", "/v2/models/priced/infer"),
        ("POST", "/v1/embeddings"),
    ]:
        response = await http.request(method, path)
        assert response.status_code == 401, (method, path)


async def test_the_admin_listener_takes_only_admin_keys(
    service: Service, admin: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    url = service.admin_url + "/admin/tenants"
    assert (await http.get(url)).status_code == 401
    forbidden = await http.get(url, headers=service.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "forbidden"
    # and an admin key opens nothing on the tenants' listener
    assert (
        await http.post(PRICED, json=inputs("x"), headers=service.admin_headers)
    ).status_code == 403
    rebound = await admin.get("/admin/tenants", headers={"Host": "evil.example"})
    assert rebound.status_code == 400
    assert (await admin.get("/admin/tenants")).status_code == 200


def test_the_admin_listener_is_bound_to_loopback(service: Service) -> None:
    admin_port = int(service.admin_url.rsplit(":", 1)[1])
    bound = [
        c.laddr.ip
        for c in psutil.Process(service.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == admin_port
    ]
    assert bound == ["127.0.0.1"]


async def test_another_tenants_job_reads_as_missing(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    owner = await new_tenant(admin, unique("owner"))
    other = await new_tenant(admin, unique("other"))
    submitted = await http.post(
        "/v1/jobs", json={"model": "priced", "inputs": [{"text": "secret"}]}, headers=owner
    )
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    missing_id = "f" * len(job_id)
    for method, suffix in [("GET", ""), ("DELETE", ""), ("GET", "/events")]:
        foreign = await http.request(method, f"/v1/jobs/{job_id}{suffix}", headers=other)
        absent = await http.request(method, f"/v1/jobs/{missing_id}{suffix}", headers=other)
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json()["code"] == absent.json()["code"] == "job_not_found"
        assert b"secret" not in foreign.content
    mine = await http.get(f"/v1/jobs/{job_id}", headers=owner)
    assert mine.status_code == 200


async def test_cache_entries_are_private_to_their_tenant(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    first = await new_tenant(admin, unique("first"))
    second = await new_tenant(admin, unique("second"))
    body = inputs(unique("private"))
    assert (await http.post(PRICED, json=body, headers=first)).headers["x-cache"] == "miss"
    assert (await http.post(PRICED, json=body, headers=first)).headers["x-cache"] == "hit-memory"
    assert (await http.post(PRICED, json=body, headers=second)).headers["x-cache"] == "miss"


async def test_usage_counts_compute_and_cost_per_tenant(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, service: Service
) -> None:
    name = unique("metered")
    tenant = await new_tenant(admin, name)
    for n in range(4):
        body = inputs(f"{name}-{n}-a", f"{name}-{n}-b", sleep_ms=20)
        assert (await http.post(PRICED, json=body, headers=tenant)).status_code == 200
    bad = await http.post(PRICED, json={"inputs": [{"nope": 1}]}, headers=tenant)
    assert bad.status_code == 422  # refused before admission: not usage
    report = (await http.get("/v1/usage", headers=tenant)).json()["data"]
    others = (await http.get("/v1/usage", headers=service.headers)).json()["data"]
    assert [(r["tenant"], r["model"]) for r in report] == [(name, "priced")]
    row = report[0]
    assert (row["requests"], row["items"], row["errors"]) == (4, 8, 0)
    assert 4 * 0.02 <= row["compute_s"] < 4 * 0.02 + 1.0  # four batches of about 20 ms
    assert row["cost"] == pytest.approx(row["compute_s"] * 2.0 + 8 / 1000 * 0.5)
    assert row["cost_per_1k_predictions"] == pytest.approx(row["cost"] / 8 * 1000)
    assert all(r["tenant"] == "default" for r in others)
    everyone = (await admin.get("/admin/usage")).json()["data"]
    assert name in {r["tenant"] for r in everyone}


async def test_a_daily_quota_refuses_with_429_and_retry_after(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    tenant = await new_tenant(admin, unique("quota"), daily_requests=3)
    codes = [
        (await http.post(PRICED, json=inputs(f"q{n}"), headers=tenant)).status_code
        for n in range(3)
    ]
    refused = await http.post(PRICED, json=inputs("q4"), headers=tenant)
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert 0 < int(refused.headers["retry-after"]) <= 86_400


async def test_a_concurrency_cap_refuses_the_request_beyond_it(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    tenant = await new_tenant(admin, unique("narrow"), max_concurrent=2)
    slow = [
        asyncio.create_task(
            http.post(PRICED, json=inputs(unique(f"slow{n}"), sleep_ms=800), headers=tenant)
        )
        for n in range(2)
    ]
    await wait_for_metric(http, "scaleserve_queue_depth", 2, headers=tenant, model="priced")
    refused = await http.post(PRICED, json=inputs(unique("third")), headers=tenant)
    assert refused.status_code == 429
    assert refused.json()["limit"] == "max_concurrent"
    assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
    after = await http.post(PRICED, json=inputs(unique("after")), headers=tenant)
    assert after.status_code == 200


async def offer(
    http: httpx.AsyncClient, headers: dict[str, str], rate_per_s: float, duration_s: float
) -> tuple[list[int], list[float]]:
    """Send requests at a steady pace (open loop, never faster than ``rate_per_s``: a sender
    that fell behind goes on from now); their statuses and the times they were sent."""
    loop = asyncio.get_running_loop()
    started = due = loop.time()
    tasks, sent_at = [], []
    n = 0
    while loop.time() - started < duration_s:
        await asyncio.sleep(max(0.0, due - loop.time()))  # pacing the load
        due = max(due, loop.time()) + 1 / rate_per_s
        body = inputs(f"{id(headers)}-{n}")
        sent_at.append(loop.time())
        tasks.append(asyncio.create_task(http.post(PRICED, json=body, headers=headers)))
        n += 1
    statuses = [r.status_code for r in await asyncio.gather(*tasks)]
    return statuses, sent_at


def bucket_admits(sent_at: list[float], rate_per_s: float, burst: int) -> float:
    """What an exact token bucket admits of requests arriving at ``sent_at``: a sender that
    the machine stalled leaves the bucket full meanwhile, and that capacity is lost."""
    tokens, last, admitted = float(burst), sent_at[0], 0
    for at in sent_at:
        tokens = min(float(burst), tokens + (at - last) * rate_per_s)
        last = at
        if tokens >= 1:
            tokens -= 1
            admitted += 1
    return admitted


async def test_rate_limit_accuracy_and_fairness(service: Service, admin: httpx.AsyncClient) -> None:
    """A tenant offered 10x its limit gets its limit (within 10%) and 429s; a tenant under
    its own limit at the same time loses nothing."""
    rate, burst, duration_s = 20.0, 5, 3.0
    flood = await new_tenant(admin, unique("flood"), requests_per_s=rate, requests_burst=burst)
    calm = await new_tenant(admin, unique("calm"), requests_per_s=rate, requests_burst=burst)
    limits = httpx.Limits(max_connections=400)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as http:
        (flooded, sent_at), (calmed, _) = await asyncio.gather(
            offer(http, flood, 10 * rate, duration_s), offer(http, calm, rate / 2, duration_s)
        )
    admitted = flooded.count(200)
    expected = bucket_admits(sent_at, rate, burst)
    assert abs(admitted - expected) <= 0.1 * expected, (admitted, expected)
    assert admitted <= 1.1 * (rate * (sent_at[-1] - sent_at[0]) + burst)
    assert set(flooded) == {200, 429}
    assert calmed.count(200) / len(calmed) >= 0.995


async def test_limits_set_on_the_admin_api_apply_within_seconds(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    name = unique("tightened")
    tenant = await new_tenant(admin, name)
    assert (await http.post(PRICED, json=inputs("a"), headers=tenant)).status_code == 200
    limits = {"daily_items": 0}
    assert (await admin.put(f"/admin/tenants/{name}/limits", json=limits)).status_code == 200
    refused = await http.post(PRICED, json=inputs("b"), headers=tenant)
    assert refused.status_code == 429


async def test_a_full_model_is_answered_by_its_fallback(service: Service) -> None:
    async with httpx.AsyncClient(
        base_url=service.base_url, headers=service.headers, timeout=30
    ) as http:
        slow = asyncio.create_task(
            http.post("/v1/models/big/predict", json=inputs("first", sleep_ms=1500))
        )
        await wait_for_metric(http, "scaleserve_queue_depth", 1, model="big")
        answer = await http.post("/v1/models/big/predict", json=inputs("second"))
        assert answer.headers["x-fallback-for"] == "big"
        assert answer.status_code == 200
        assert answer.json()["model"] == "small"
        assert answer.json()["outputs"] == ["small:second"]
        first = await slow
    assert first.json() == {"model": "big", "version": "1", "outputs": ["big:first"]}
