"""Many jobs per request: ``POST /v1/jobs/batch`` submits them, ``GET /v1/jobs?ids=`` reads
them (``GET /v1/jobs`` without ``ids`` lists the caller's jobs: see ``jobs_list``).

A batch is all or nothing:

- Every job in it is checked as ``POST /v1/jobs`` checks one; the first bad job refuses
  the whole batch (422 naming its place, ``body.jobs.<n>...``; a refused webhook is 400).
- It is admitted under the tenant's limits as one request of all its items: the items
  rate and the daily items quota count every item, the request rate counts the request.
- Every job is then recorded durably in one step (one Lua call on Redis, one transaction
  on SQLite) before the 202 answers their ids, in the order of the request. A model whose
  queue cannot take its share refuses the whole batch (503), with nothing recorded.
- Usage counts each job as one request of its items, as if each had been sent alone.
- With ``Idempotency-Key``, a batch sent again answers the first one's jobs (``Idempotent-
  Replayed: true``; not counted again), never a second copy (``scaleserve.jobs.idempotency``).

Reading answers the caller's jobs among ``ids``, in order; every other id (unknown,
removed after its retention, another tenant's, not an id at all) is listed under
``not_found``, as a single read answers it 404.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from scaleserve.api import jobs_list
from scaleserve.api.caller import Caller, caller_of
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
from scaleserve.jobs.idempotency import REPLAYED_HEADER, checked_key, keyed, submit_once
from scaleserve.jobs.record import Job, JobStatus, is_job_id
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
    async def submit_batch(
        body: BatchRequest,
        request: Request,
        idempotency_key: str | None = Header(default=None, max_length=255),
    ) -> JSONResponse:
        """Accept many jobs at once, all or none; answers once every one is durably recorded.
        With ``Idempotency-Key``, the same batch sent again answers the first one's jobs."""
        key = checked_key(idempotency_key)
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
        return await _recorded(jobs, caller, batch, payloads, key)

    @router.get(
        "",
        response_model=JobList | jobs_list.JobPage,
        responses={code: {"model": Problem} for code in (422, 501, 503)},
    )
    async def read_many(  # noqa: PLR0917 - query parameters, as FastAPI reads them
        request: Request,
        ids: Annotated[
            str | None,
            Query(
                max_length=MAX_IDS_PER_READ * 40,
                description=f"Job ids, comma-separated, at most {MAX_IDS_PER_READ}.",
            ),
        ] = None,
        status: Annotated[
            JobStatus | None, Query(description="List: only jobs of this status.")
        ] = None,
        since: Annotated[
            str | None,
            Query(
                max_length=64, description="List: jobs created since (unix seconds or ISO 8601)."
            ),
        ] = None,
        limit: Annotated[
            int | None,
            Query(
                ge=1,
                le=jobs_list.MAX_PAGE,
                description=f"List: jobs per page (default {jobs_list.DEFAULT_PAGE}).",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(max_length=jobs_list.MAX_CURSOR_CHARS, description="List: a page's next_cursor."),
        ] = None,
    ) -> Response:
        """With ``ids``: many jobs at once, those of the caller, and the ids that name none of
        them. Without: a page of the caller's jobs, newest first (``next_cursor`` asks for the
        next); on Redis this needs the job history (ended jobs), else 501."""
        tenant = caller_of(request.scope).tenant.name
        if ids is None:
            page = await jobs_list.list_page(
                jobs.lister, tenant, status=status, since=since, limit=limit, cursor=cursor
            )
            return Response(page, media_type="application/json")
        listing = {"status": status, "since": since, "limit": limit, "cursor": cursor}
        for parameter, value in listing.items():
            if value is not None:
                raise jobs_list.not_with_ids(parameter)
        asked = list(dict.fromkeys(part.strip() for part in ids.split(",") if part.strip()))
        if len(asked) > MAX_IDS_PER_READ:
            raise InvalidInput(f"query.ids: at most {MAX_IDS_PER_READ} ids per read")
        wanted = [job_id for job_id in asked if is_job_id(job_id)]
        found = await jobs.store.get_many(wanted, tenant)
        by_id = {job.id: job for job in found if job is not None}
        body = {
            "jobs": [by_id[job_id].view() for job_id in asked if job_id in by_id],
            "not_found": [job_id for job_id in asked if job_id not in by_id],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return router


async def _recorded(
    jobs: JobsApi, caller: Caller, batch: list[Job], payloads: list[list[bytes]], key: str | None
) -> JSONResponse:
    """Record ``batch`` (or find the one ``key`` recorded before) and answer its ids."""
    if key is not None:
        batch, replayed = await submit_once(jobs.store, jobs.submit, keyed(batch, key))
        if replayed:
            return JSONResponse(_accepted(batch), 202, {REPLAYED_HEADER: "true"})
    else:
        await jobs.submit(batch)
    for queued, items in zip(batch, payloads, strict=True):
        caller.gate.usage.record(caller.tenant.name, queued.model, requests=1, items=len(items))
    return JSONResponse(_accepted(batch), 202)


def _accepted(batch: list[Job]) -> dict[str, Any]:
    """The 202's body: the jobs' ids, in order (a replay's status is its first job's now)."""
    return {
        "ids": [job.id for job in batch],
        "status": batch[0].status.value,
        "created_at": batch[0].created_at,
    }


def _payloads_of(job: JobRequest, n: int, inputs_of: InputAdapters) -> list[bytes]:
    """The job's validated items; a job of a model not served is invalid here (422), as
    its place in the batch is what the client needs to hear."""
    try:
        return validated_payloads(job, inputs_of, at=("body", "jobs", n))
    except UnknownModel as exc:
        raise InvalidInput(f"body.jobs.{n}.model: {exc}") from None
