"""``/v1/jobs``: submit a job (202 once it is durably recorded), read it, cancel it, and
follow it as Server-Sent Events that resume from ``Last-Event-ID``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scaleserve.api.schemas import Problem
from scaleserve.errors import InvalidInput, JobNotCancellable, JobNotFound, UnknownModel
from scaleserve.jobs.record import Job, JobEvent, JobStatus, is_job_id, new_job_id
from scaleserve.jobs.runner import encode_inputs
from scaleserve.jobs.settings import JobSettings
from scaleserve.jobs.store import JobStore, SubmitJob
from scaleserve.model.spec import MODEL_NAME_PATTERN, ModelSpec

DEFAULT_TENANT = "default"  # tenancy arrives with API keys; every job already carries one
HEARTBEAT_S = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

UrlCheck = Callable[[str], None]
"""Raises ``RequestError`` when a webhook URL must be refused."""


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048, description="Where the result is POSTed, signed.")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(pattern=MODEL_NAME_PATTERN.pattern, description="The model to run.")
    inputs: list[Any] = Field(min_length=1, description="Input items, as for predict.")
    webhook: WebhookRequest | None = None
    deadline_s: float | None = Field(
        default=None, gt=0, description="Seconds from now after which the job is not run."
    )


class JobLinks(BaseModel):
    self: str
    events: str


class JobAccepted(BaseModel):
    id: str
    status: str
    model: str
    created_at: float
    links: JobLinks


class JobError(BaseModel):
    code: str | None
    message: str


class JobView(BaseModel):
    id: str
    model: str
    status: JobStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    deadline_at: float
    attempts: int
    outputs: list[Any] | None = None
    error: JobError | None = None
    expires_at: float | None = None


@dataclass
class JobsApi:
    """What the job routes need: where jobs are read, how they are submitted, the models."""

    store: JobStore
    submit: SubmitJob
    specs: Sequence[ModelSpec]
    settings: JobSettings
    check_webhook_url: UrlCheck | None = None


def build_router(jobs: JobsApi) -> APIRouter:
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    inputs_of = {s.name: (TypeAdapter(list[s.input_type]), s) for s in jobs.specs}  # type: ignore[name-defined]
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    @router.post("", status_code=202, responses={404: {"model": Problem}, 422: {"model": Problem}})
    async def submit(body: JobRequest) -> JSONResponse:
        """Accept a job; answers once the job is durably recorded."""
        payloads = _validated_payloads(body, inputs_of)
        if body.webhook is not None and jobs.check_webhook_url is not None:
            jobs.check_webhook_url(body.webhook.url)
        now = time.time()
        deadline_s = min(
            body.deadline_s or jobs.settings.default_deadline_s, jobs.settings.max_deadline_s
        )
        job = Job(
            id=new_job_id(),
            tenant=DEFAULT_TENANT,
            model=body.model,
            status=JobStatus.QUEUED,
            inputs=encode_inputs(payloads),
            created_at=now,
            deadline_at=now + deadline_s,
            webhook_url=body.webhook.url if body.webhook else None,
        )
        await jobs.submit(job)
        links = JobLinks(self=f"/v1/jobs/{job.id}", events=f"/v1/jobs/{job.id}/events")
        accepted = JobAccepted(
            id=job.id, status=job.status, model=job.model, created_at=now, links=links
        )
        return JSONResponse(accepted.model_dump(), 202, headers={"Location": links.self})

    @router.get("/{job_id}", response_model=JobView, responses=not_found)
    async def get(job_id: str) -> Any:
        """The job's state, and its outputs or error once it has ended."""
        return _json(await _find(jobs.store, job_id))

    @router.delete(
        "/{job_id}", response_model=JobView, responses={**not_found, 409: {"model": Problem}}
    )
    async def cancel(job_id: str) -> Any:
        """Cancel a job that has not started; 409 once it runs or has ended."""
        job = await _find(jobs.store, job_id)
        now = time.time()
        cancelled = await jobs.store.cancel(
            job.id, DEFAULT_TENANT, now, now + jobs.settings.result_ttl_s
        )
        if cancelled is None:
            current = await _find(jobs.store, job_id)
            raise JobNotCancellable(job_id, current.status.value)
        return _json(cancelled)

    @router.get(
        "/{job_id}/events",
        response_class=StreamingResponse,
        responses={**not_found, 200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        job_id: str, request: Request, last_event_id: str | None = Header(default=None)
    ) -> StreamingResponse:
        """Each change of the job as an SSE event (``event`` = status, ``data`` = the job),
        ending after the final one. Reconnect with ``Last-Event-ID`` to miss nothing."""
        await _find(jobs.store, job_id)
        after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
        return StreamingResponse(
            _event_stream(jobs.store, job_id, after),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    return router


async def _find(store: JobStore, job_id: str) -> Job:
    job = await store.get(job_id, DEFAULT_TENANT) if is_job_id(job_id) else None
    if job is None:
        raise JobNotFound(job_id)
    return job


def _json(job: Job) -> Response:
    # the view embeds the stored outputs as raw JSON (orjson.Fragment): encoded once, here
    return Response(orjson.dumps(job.view()), media_type="application/json")


def _validated_payloads(
    body: JobRequest, inputs_of: dict[str, tuple[TypeAdapter[Any], ModelSpec]]
) -> list[bytes]:
    entry = inputs_of.get(body.model)
    if entry is None:
        raise UnknownModel(body.model)
    adapter, spec = entry
    if len(body.inputs) > spec.max_items_per_request:
        raise InvalidInput(f"body.inputs: at most {spec.max_items_per_request} items per job")
    try:
        items = adapter.validate_python(body.inputs)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", "inputs", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        where = ".".join(str(part) for part in errors[0]["loc"])
        raise InvalidInput(f"{where}: {errors[0]['msg']}", errors) from None
    return [spec.input_adapter.dump_json(item) for item in items]


async def _event_stream(store: JobStore, job_id: str, after: int) -> AsyncIterator[bytes]:
    while True:
        events = await store.events_after(job_id, after)
        if not events:
            await store.wait_for_event(job_id, after, HEARTBEAT_S)
            events = await store.events_after(job_id, after)
            if not events:
                yield b": ping\n\n"  # keeps proxies from closing an idle stream
                continue
        for event in events:
            yield _sse(event)
            after = event.seq
            if event.status.terminal:
                return


def _sse(event: JobEvent) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.status.value.encode(), event.data)
