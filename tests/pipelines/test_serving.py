"""Pipelines on a real service: answered in one request, streamed through the OpenAI chat
route, run as jobs that resume after their last finished step when a worker dies."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from scaleserve.testing import Service, running_service
from tests.helpers import delete_redis_prefix, until

APP = Path(__file__).parents[1] / "fixtures" / "pipeline_app.py"


@pytest.fixture(scope="module")
def calls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calls")


@pytest.fixture(scope="module")
def service(calls_dir: Path) -> Iterator[Service]:
    with running_service(APP, env={"PIPELINE_CALLS_DIR": str(calls_dir)}) as running:
        yield running


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
        yield client


def _runs(calls_dir: Path, model: str, text: str) -> int:
    path = calls_dir / model
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(1 for line in lines if line.endswith(text))


async def test_a_pipeline_answers_in_one_request(http: httpx.AsyncClient) -> None:
    inputs = [{"text": "one two three"}, {"text": "four"}]
    answer = await http.post("/v1/models/shout/predict", json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [
        {"upper": "ONE TWO THREE", "size": 13, "words": 3},
        {"upper": "FOUR", "size": 4, "words": 1},
    ]
    bad = await http.post("/v1/models/shout/predict", json={"inputs": [{"txt": 1}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "text"


async def test_concurrent_items_are_batched_by_each_models_workers(
    http: httpx.AsyncClient,
) -> None:
    answers = await asyncio.gather(
        *(http.post("/v1/models/shout/predict", json={"inputs": [{"text": f"t{i}"}]})
          for i in range(24))
    )  # fmt: skip
    assert [a.json()["outputs"][0]["upper"] for a in answers] == [f"T{i}" for i in range(24)]
    metrics = (await http.get("/metrics")).text
    assert 'scaleserve_pipeline_step_duration_seconds_count{pipeline="shout",step="upper"}' in (
        metrics
    )
    assert 'scaleserve_batch_size_bucket{le="1.0",model="upper"' in metrics


async def test_the_openapi_document_and_model_list_show_the_pipeline(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    assert "/v1/models/shout/predict" in document["paths"]
    names = [m["id"] for m in (await http.get("/v1/models")).json()["data"]]
    assert {"shout", "chat", "upper", "slow", "writer"} <= set(names)


def test_a_chat_pipeline_streams_through_the_openai_client(service: Service) -> None:
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key="unused") as client:
        messages = [{"role": "user", "content": "tell me"}]
        whole = client.chat.completions.create(model="chat", messages=messages)
        assert whole.choices[0].message.content == "system: be brief tell "
        stream = client.chat.completions.create(model="chat", messages=messages, stream=True)
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "system: be brief tell "


async def test_a_job_resumes_after_its_last_finished_step_when_a_worker_dies(
    http: httpx.AsyncClient, calls_dir: Path
) -> None:
    text = "HOLD resume"
    submitted = await http.post("/v1/jobs", json={"model": "shout", "inputs": [{"text": text}]})
    assert submitted.status_code in (201, 202), submitted.text
    job_id = submitted.json()["id"]
    upper_text = text.upper()
    await until(lambda: _runs(calls_dir, "slow", upper_text) > 0, 30)  # started, and holds
    assert _runs(calls_dir, "upper", text) == 1
    [line] = [x for x in (calls_dir / "slow").read_text().splitlines() if x.endswith(upper_text)]
    os.kill(int(line.split()[0]), signal.SIGKILL)  # the slow model's worker, mid-pipeline
    (calls_dir / "release").touch()  # the rerun may finish
    done = await http.get(f"/v1/jobs/{job_id}", headers={"Prefer": "wait=60"})
    job = done.json()
    assert job["status"] == "succeeded", job
    assert job["outputs"] == [{"upper": upper_text, "size": len(text), "words": 2}]
    assert _runs(calls_dir, "upper", text) == 1  # the finished step was not run again
    assert _runs(calls_dir, "slow", upper_text) == 2  # the step that died was
    metrics = (await http.get("/metrics")).text
    assert 'scaleserve_pipeline_steps_resumed_total{pipeline="shout"}' in metrics


async def test_on_redis_a_pipeline_answers_and_is_not_offered_as_a_job(redis_url: str) -> None:
    prefix = f"sstest-{os.getpid()}-pipelines"
    env = {"SCALESERVE_REDIS_URL": redis_url, "SCALESERVE_REDIS_PREFIX": prefix}
    with running_service(APP, env=env) as on_redis:
        async with httpx.AsyncClient(base_url=on_redis.base_url, timeout=60) as client:
            body = {"inputs": [{"text": "a b"}]}
            answer = await client.post("/v1/models/shout/predict", json=body)
            assert answer.json()["outputs"] == [{"upper": "A B", "size": 3, "words": 2}]
            job = await client.post("/v1/jobs", json={"model": "shout", "inputs": [{"text": "x"}]})
            assert job.status_code == 404, job.text
    delete_redis_prefix(redis_url, prefix)
