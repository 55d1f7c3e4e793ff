"""Running a batch on a deployment: its job batch API, so the cluster's workers do the work.

Each chunk becomes jobs of ``job_items`` items, submitted together with ``POST
/v1/jobs/batch`` (recorded durably before the server answers) and read back with ``GET
/v1/jobs?ids=``, waiting on the oldest unfinished job with ``Prefer: wait``. A row the
server refuses (422 naming ``body.jobs.<n>.inputs.<i>``) is failed with the server's
message and the rest submitted again; a failed job of several items is split into jobs of
one, so only the rows that fail are failed. A full queue or rate limit (429, 503) is
waited out as its ``Retry-After`` says.

Every submission carries an ``Idempotency-Key`` made of the chunk's key and its number in
the chunk, so a run that is killed and started again gets the jobs its first start
submitted (finished, or still running) instead of submitting the chunk's rows again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from scaleserve.batch.predictor import RowResult
from scaleserve.errors import ConfigError

WAIT_S = 20
MAX_IDS = 100
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0


class ServerRefused(ConfigError):
    """The server refused the run itself (a key, a model, a route): no row can succeed."""


@dataclass
class _Job:
    places: list[int]
    items: list[Any]
    id: str = ""


class ServerPredictor:
    def __init__(
        self, client: httpx.AsyncClient, model: str, job_items: int = 32, chunks: int = 2
    ) -> None:
        self._client = client
        self._model = model
        self._job_items = job_items
        self._chunks = chunks

    @property
    def chunks_in_flight(self) -> int:
        return self._chunks

    async def predict(self, items: list[Any], key: str | None = None) -> list[RowResult]:
        results: dict[int, RowResult] = {}
        submissions = (f"scaleserve-batch-{key}-{n}" for n in itertools.count())
        jobs = [
            _Job(list(range(start, min(start + self._job_items, len(items)))), [])
            for start in range(0, len(items), self._job_items)
        ]
        for job in jobs:
            job.items = [items[place] for place in job.places]
        while jobs:
            accepted = await self._submit(jobs, results, submissions if key else None)
            ended = await self._wait(accepted)
            jobs = []
            for job in accepted:
                view = ended[job.id]
                if view["status"] == "succeeded":
                    for place, output in zip(job.places, view["outputs"], strict=True):
                        results[place] = RowResult(output=output)
                elif len(job.places) > 1:
                    jobs.extend(_Job([p], [i]) for p, i in zip(job.places, job.items, strict=True))
                else:
                    results[job.places[0]] = RowResult(error=_job_error(view))
        return [results[place] for place in range(len(items))]

    async def _submit(
        self, jobs: list[_Job], results: dict[int, RowResult], keys: Iterator[str] | None
    ) -> list[_Job]:
        """Submit ``jobs``, failing the rows the server refuses and submitting the rest;
        each submission under the next of ``keys``."""
        while True:
            jobs = [job for job in jobs if job.items]
            if not jobs:
                return []
            body = {"jobs": [{"model": self._model, "inputs": job.items} for job in jobs]}
            headers = {"idempotency-key": next(keys)} if keys is not None else {}
            response = await self._send("POST", "/v1/jobs/batch", json=body, headers=headers)
            if response.status_code == 202:
                for job, job_id in zip(jobs, response.json()["ids"], strict=True):
                    job.id = job_id
                return jobs
            if response.status_code != 422 or not _drop_refused(jobs, response, results):
                raise ServerRefused(_refusal(response))

    async def _wait(self, jobs: list[_Job]) -> dict[str, dict[str, Any]]:
        """Every job's view once it has ended."""
        ended: dict[str, dict[str, Any]] = {}
        waiting = [job.id for job in jobs]
        while waiting:
            await self._send("GET", f"/v1/jobs/{waiting[0]}", headers={"prefer": f"wait={WAIT_S}"})
            for start in range(0, len(waiting), MAX_IDS):
                ids = ",".join(waiting[start : start + MAX_IDS])
                response = await self._send("GET", "/v1/jobs", params={"ids": ids})
                if response.status_code != 200:
                    raise ServerRefused(_refusal(response))
                body = response.json()
                if body["not_found"]:
                    raise ServerRefused(f"the server lost jobs {body['not_found'][:3]}")
                for view in body["jobs"]:
                    if view["status"] not in ("queued", "running"):
                        ended[view["id"]] = view
            waiting = [job_id for job_id in waiting if job_id not in ended]
        return ended

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response, once it is not a 'come back later' (waited out as it says)."""
        delay_s = 0.5
        while True:
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise ServerRefused(f"cannot reach {self._client.base_url}: {exc}") from None
            if response.status_code not in RETRY_STATUSES:
                return response
            await asyncio.sleep(_retry_after_s(response, delay_s))
            delay_s = min(2 * delay_s, MAX_RETRY_AFTER_S)


def _drop_refused(
    jobs: list[_Job], response: httpx.Response, results: dict[int, RowResult]
) -> bool:
    """Fail the items a 422 names (``body.jobs.<n>.inputs.<i>``); False if it names none."""
    dropped = False
    for error in response.json().get("errors", []):
        loc = error.get("loc", [])
        if len(loc) < 5 or loc[:2] != ["body", "jobs"] or loc[3] != "inputs":
            continue
        job, place = jobs[int(loc[2])], int(loc[4])
        if place < len(job.items) and job.items[place] is not _DROPPED:
            where = ".".join(str(part) for part in loc[5:])
            results[job.places[place]] = RowResult(
                error=f"{where}: {error.get('msg')}".lstrip(": ")
            )
            job.items[place] = _DROPPED
            dropped = True
    for job in jobs:
        kept = [(p, i) for p, i in zip(job.places, job.items, strict=True) if i is not _DROPPED]
        job.places, job.items = [p for p, _ in kept], [i for _, i in kept]
    return dropped


_DROPPED: Any = object()


def _job_error(view: dict[str, Any]) -> str:
    error = view.get("error") or {}
    return str(error.get("message") or f"the job {view['status']}")


def _refusal(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text[:200]
    return f"the server answered {response.status_code}: {detail}"


def _retry_after_s(response: httpx.Response, default_s: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default_s)), MAX_RETRY_AFTER_S)
    except ValueError:
        return default_s
