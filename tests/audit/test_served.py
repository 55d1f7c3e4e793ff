"""The audit log of a real service: records of the predictions a policy picks, read on the
admin listener and with ``scaleserve audit``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from scaleserve.testing import Service, running_service

APP = Path(__file__).parents[1] / "fixtures" / "audit_app.py"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-data")


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[Service]:
    with running_service(APP, args=["--data-dir", str(data_dir)], auth=True) as running:
        yield running


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, headers=service.headers) as client:
        yield client


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15) -> None:
    """Poll ``check`` until it holds: records reach the store when the sink flushes (every
    half second), and nothing outside the service can await that."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - another process's state: no event to await
            await asyncio.sleep(0.05)


async def _records(service: Service, model: str, **params: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=service.admin_url, headers=service.admin_headers) as a:
        page = await a.get("/admin/audit", params={"model": model, "since": "0", **params})
    assert page.status_code == 200, page.text
    records: list[dict[str, Any]] = page.json()["records"]
    return records


async def test_each_prediction_is_recorded_as_its_policy_keeps_it(
    service: Service, http: httpx.AsyncClient
) -> None:
    body = {"inputs": [{"name": "ann", "income": 60000}]}
    answer = await http.post(
        "/v1/models/credit/predict", json=body, headers={"X-Request-Id": "req-ann-1"}
    )
    assert answer.status_code == 200
    found: list[dict[str, Any]] = []

    async def recorded() -> bool:
        found[:] = [r for r in await _records(service, "credit") if r["request_id"] == "req-ann-1"]
        return bool(found)

    await _eventually(recorded)
    [record] = found
    assert record["tenant"] == "default" and record["status"] == 200
    assert record["version"] == "1" and record["route"] == "predict"
    assert json.loads(record["input"]) == body
    assert record["output"] == "sha256:" + hashlib.sha256(answer.content).hexdigest()
    assert record["latency_ms"] > 0
    key = service.api_key or ""
    assert key and key not in json.dumps(record)


async def test_a_policy_without_successes_still_records_every_failure(
    service: Service, http: httpx.AsyncClient
) -> None:
    good = await http.post(
        "/v1/models/quiet/predict", json={"inputs": [{"name": "a", "income": 1}]}
    )
    bad = await http.post("/v1/models/quiet/predict", json={"inputs": [{"name": "a"}]})
    assert (good.status_code, bad.status_code) == (200, 422)
    found: list[dict[str, Any]] = []

    async def recorded() -> bool:
        found[:] = await _records(service, "quiet")
        return bool(found)

    await _eventually(recorded)
    assert [r["status"] for r in found] == [422]
    assert found[0]["input"] is None and found[0]["output"] is None


async def test_pages_follow_the_cursor_and_bad_times_are_422(
    service: Service, http: httpx.AsyncClient
) -> None:
    for n in range(5):
        body = {"inputs": [{"name": f"page{n}", "income": n}]}
        assert (await http.post("/v1/models/credit/predict", json=body)).status_code == 200
    await _eventually(lambda: _count(service, at_least=5))
    async with httpx.AsyncClient(base_url=service.admin_url, headers=service.admin_headers) as a:
        page = {"model": "credit", "since": "0", "limit": 2}
        first = (await a.get("/admin/audit", params=page)).json()
        second = (await a.get("/admin/audit", params={**page, "cursor": first["next"]})).json()
        bad = await a.get("/admin/audit", params={"model": "credit", "since": "yesterday"})
        anonymous = await a.get(
            "/admin/audit", params={"model": "credit", "since": "0"}, headers={"Authorization": ""}
        )
    assert len(first["records"]) == 2 and len(second["records"]) == 2
    ordered = [(r["ts"], r["request_id"]) for r in first["records"] + second["records"]]
    assert ordered == sorted(ordered) and len(set(ordered)) == 4
    assert bad.status_code == 422
    assert anonymous.status_code in (401, 403)


async def _count(service: Service, at_least: int) -> bool:
    return len(await _records(service, "credit", limit=1000)) >= at_least


async def test_the_cli_queries_and_exports_the_store(
    service: Service, http: httpx.AsyncClient, data_dir: Path, tmp_path: Path
) -> None:
    await http.post("/v1/models/credit/predict", json={"inputs": [{"name": "cli", "income": 1}]})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "scaleserve", "audit", *args, "--data-dir", str(data_dir)]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    lines: list[dict[str, Any]] = []

    async def listed() -> bool:
        done = await asyncio.to_thread(cli, "query", "--model", "credit", "--since", "1970-01-01")
        assert done.returncode == 0, done.stderr
        lines[:] = [json.loads(line) for line in done.stdout.splitlines()]
        return any('"cli"' in (r["input"] or "") for r in lines)

    await _eventually(listed, 30)
    out = tmp_path / "credit.parquet"
    args = ("export", "--model", "credit", "--since", "0", "--output", str(out))
    exported = await asyncio.to_thread(cli, *args)
    assert exported.returncode == 0, exported.stderr
    table = pq.read_table(out)
    assert table.num_rows == len(lines) == json.loads(exported.stdout)["rows"]
    assert set(table.column("model").to_pylist()) == {"credit"}


async def test_on_postgresql_records_land_in_the_day_partitioned_table(
    pg_url: str, pg_schema: str
) -> None:
    env = {"SCALESERVE_AUDIT_URL": pg_url, "SCALESERVE_AUDIT_SCHEMA": pg_schema}
    with running_service(APP, env=env, auth=True) as on_pg:
        async with httpx.AsyncClient(base_url=on_pg.base_url, headers=on_pg.headers) as client:
            body = {"inputs": [{"name": "pg", "income": 99_000}]}
            assert (await client.post("/v1/models/credit/predict", json=body)).status_code == 200
        found: list[dict[str, Any]] = []

        async def recorded() -> bool:
            found[:] = await _records(on_pg, "credit")
            return bool(found)

        await _eventually(recorded)
    assert json.loads(found[0]["input"]) == body
    with psycopg.connect(pg_url) as conn:
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (pg_schema,),
        ).fetchone()
    assert partitions is not None and partitions[0] >= 4  # today, 3 days ahead (and default)
