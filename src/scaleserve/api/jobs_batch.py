"""Many jobs per request: ``POST /v1/jobs/batch`` submits them, ``GET /v1/jobs?ids=`` reads
them.

A batch is all or nothing:

- Every job in it is checked as ``POST /v1/jobs`` checks one; the first bad job refuses
  the whole batch (422 naming its place, ``body.jobs.<n>...``; a refused webhook is 400).
- It is admitted under the tenant's limits as one request of all its items: the items
  rate and the daily items quota count every item, the request rate counts the request.
- Every job is then recorded durably in one step (one Lua call on Redis, one transaction
  on SQLite) before the 202 answers their ids, in the order of the request. A model whose
  queue cannot take its share refuses the whole batch (503), with nothing recorded.
- Usage counts each job as one request of its items, as if each had been sent alone.

Reading answers the caller's jobs among ``ids``, in order; every other id (unknown,
removed after its retention, another tenant's, not an id at all) is listed under
``not_found``, as a single read answers it 404.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from scaleserve.api.caller import caller_of
from scaleserve.api.jobs import (
    InputAdapters,
    JobRequest,
    JobsApi,
    JobView,
    check_webhook,
    input_adapters,
    jobs_router,
    new_job,
    validated_payloads,
)
from scaleserve.api.schemas import Problem
from scaleserve.errors import InvalidInput, UnknownModel
from scaleserve.jobs.record import is_job_id
from scaleserve.settings import GatewaySettings

MAX_JOBS_PER_BATCH = 1000
MAX_IDS_PER_READ = 100
"""Ids per read: 100 of them keep the URL under 4 KiB, which every proxy lets through."""


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[JobRequest] = Field(
        min_length=1,
        max_length=MAX_JOBS_PER_BATCH,
        description="The jobs, each as ``POST /v1/jobs`` takes one.",
    )


class BatchAccepted(BaseModel):
    ids: list[str] = Field(description="The id of each job, in the order of the request.")
    status: str
    created_at: float


class JobList(BaseModel):
    jobs: list[JobView] = Field(description="The caller's jobs among those asked for, in order.")
    not_found: list[str] = Field(description="The ids asked for that name none of them.")


def build_router(jobs: JobsApi, max_body_bytes: int = GatewaySettings.max_body_bytes) -> APIRouter:
    """The routes over many jobs; a batch's body is read under the same limits as any."""
    router = jobs_router(max_body_bytes)
    inputs_of = input_adapters(jobs.specs)
    refusals: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem} for code in (400, 413, 415, 422, 429, 503)
    }

    @router.post("/batch", status_code=202, response_model=BatchAccepted, responses=refusals)
    async def submit_batch(body: BatchRequest, request: Request) -> JSONResponse:
        """Accept many jobs at once, all or none; answers once every one is durably recorded."""
        caller = caller_of(request.scope)
        payloads = [_payloads_of(job, n, inputs_of) for n, job in enumerate(body.jobs)]
        for job in body.jobs:
            check_webhook(jobs, job)
        await caller.gate.release(
            await caller.gate.admit(caller.tenant, sum(len(p) for p in payloads))
        )
        now = time.time()
        tenant = caller.tenant.name
        batch = [
            new_job(job, items, tenant, now, jobs.settings)
            for job, items in zip(body.jobs, payloads, strict=True)
        ]
        await jobs.submit(batch)
        for queued, items in zip(batch, payloads, strict=True):
            caller.gate.usage.record(tenant, queued.model, requests=1, items=len(items))
        accepted = {"ids": [queued.id for queued in batch], "status": "queued", "created_at": now}
        return JSONResponse(accepted, 202)

    @router.get("", response_model=JobList, responses={422: {"model": Problem}})
    async def read_many(
        request: Request,
        ids: str = Query(
            max_length=MAX_IDS_PER_READ * 40,
            description=f"Job ids, comma-separated, at most {MAX_IDS_PER_READ}.",
        ),
    ) -> Response:
        """Many jobs at once: those of the caller, and the ids that name none of them."""
        asked = list(dict.fromkeys(part.strip() for part in ids.split(",") if part.strip()))
        if len(asked) > MAX_IDS_PER_READ:
            raise InvalidInput(f"query.ids: at most {MAX_IDS_PER_READ} ids per read")
        wanted = [job_id for job_id in asked if is_job_id(job_id)]
        found = await jobs.store.get_many(wanted, caller_of(request.scope).tenant.name)
        by_id = {job.id: job for job in found if job is not None}
        body = {
            "jobs": [by_id[job_id].view() for job_id in asked if job_id in by_id],
            "not_found": [job_id for job_id in asked if job_id not in by_id],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return router


def _payloads_of(job: JobRequest, n: int, inputs_of: InputAdapters) -> list[bytes]:
    """The job's validated items; a job of a model not served is invalid here (422), as
    its place in the batch is what the client needs to hear."""
    try:
        return validated_payloads(job, inputs_of, at=("body", "jobs", n))
    except UnknownModel as exc:
        raise InvalidInput(f"body.jobs.{n}.model: {exc}") from None
