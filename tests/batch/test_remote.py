"""``scaleserve batch --server``: a running deployment's workers do the work, through its job
batch API, with its keys."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from scaleserve.batch.remote import ServerPredictor
from scaleserve.testing import Service, running_service
from tests.batch.conftest import BATCH_APP, rows, write


@pytest.fixture(scope="module")
def deployment() -> Iterator[Service]:
    with running_service(BATCH_APP, auth=True) as service:
        yield service


def remote(
    service: Service, *args: str, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scaleserve", "batch", "scorer", "--server", service.base_url,
         "--api-key", key or str(service.api_key), *args],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_deployments_workers_score_every_row(deployment: Service, tmp_path: Path) -> None:
    data = rows(700)
    data[5]["x"] = -1  # refused by the server's type check: that row alone fails
    source = write(tmp_path / "in.parquet", data)
    out = tmp_path / "out.parquet"
    done = remote(deployment, "--input", str(source), "--output", str(out), "--key", "id",
                  "--chunk-rows", "200", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = pq.read_table(out).to_pylist()
    failed = [
        orjson.loads(line) for line in (tmp_path / "out.errors.jsonl").read_bytes().splitlines()
    ]
    assert {e["id"] for e in failed} == {"r5"} | {r["id"] for r in data if r["x"] == 13}
    by_id = {e["id"]: e["error"] for e in failed}
    assert "greater than or equal to 0" in by_id["r5"]
    assert "13 is unlucky" in by_id["r13"]
    scored = [r for r in data if r["id"] not in by_id]
    assert [w["id"] for w in written] == [r["id"] for r in scored]
    assert [w["output"]["double"] for w in written] == [2 * r["x"] for r in scored]


def test_a_refused_key_stops_the_run_with_the_servers_answer(
    deployment: Service, tmp_path: Path
) -> None:
    source = write(tmp_path / "in.parquet", rows(10))
    done = remote(deployment, "--input", str(source), "--output", str(tmp_path / "o.parquet"),
                  key="ss_wrong")  # fmt: skip
    assert done.returncode == 2
    assert "the server answered 401" in done.stderr


async def test_a_chunk_predicted_again_under_its_key_reuses_its_jobs(deployment: Service) -> None:
    """A resumed run sends a chunk's submissions under the same keys: the deployment answers
    the jobs of the first start (``Idempotency-Key``), and runs nothing again."""
    items = [{"x": x, "label": "again"} for x in range(20, 60)]  # two jobs, neither fails
    headers = {"authorization": f"Bearer {deployment.api_key}"}
    async with httpx.AsyncClient(base_url=deployment.base_url, headers=headers) as client:

        async def jobs_kept() -> int:
            listed = await client.get("/v1/jobs", params={"limit": 500})
            return len(listed.json()["jobs"])

        before = await jobs_kept()
        predictor = ServerPredictor(client, "scorer", job_items=32)
        first = await predictor.predict(items, key="run-1")
        assert await jobs_kept() == before + 2
        again = await predictor.predict(items, key="run-1")
        assert await jobs_kept() == before + 2
        other = await predictor.predict(items, key="run-2")
        assert await jobs_kept() == before + 4
    assert again == first == other
    assert [r.output["double"] for r in first] == [2 * x for x in range(20, 60)]
