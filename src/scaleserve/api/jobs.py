"""``/v1/jobs``: submit a job (202 once it is durably recorded), read it, cancel it, and
follow it as Server-Sent Events that resume from ``Last-Event-ID``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scaleserve.api.body import header_int
from scaleserve.api.caller import Caller, caller_of
from scaleserve.api.prefer import preference_applied, preferred_wait_s
from scaleserve.api.problems import problem_response
from scaleserve.api.protocol_route import protocol_route
from scaleserve.api.schemas import Problem
from scaleserve.errors import InvalidInput, JobNotCancellable, JobNotFound, UnknownModel
from scaleserve.jobs.history import JobLister
from scaleserve.jobs.idempotency import REPLAYED_HEADER, checked_key, keyed, submit_once
from scaleserve.jobs.record import Job, JobEvent, JobStatus, is_job_id, new_job_id
from scaleserve.jobs.runner import encode_inputs
from scaleserve.jobs.settings import JobSettings
from scaleserve.jobs.store import JobStore, SubmitJobs
from scaleserve.model.spec import MODEL_NAME_PATTERN, ModelSpec
from scaleserve.observe import tracing
from scaleserve.settings import GatewaySettings

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
    submit: SubmitJobs
    specs: Sequence[ModelSpec]
    settings: JobSettings
    check_webhook_url: UrlCheck | None = None
    lister: JobLister | None = None
    """Where ``GET /v1/jobs`` lists a tenant's jobs (``None``: listing is not offered)."""


def jobs_router(max_body_bytes: int) -> APIRouter:
    """An empty router under ``/v1/jobs`` whose routes read bodies as predict does (the same
    limits, the same problem bodies)."""
    return APIRouter(
        prefix="/v1/jobs",
        tags=["jobs"],
        route_class=protocol_route(problem_response, max_body_bytes),
    )


def build_router(jobs: JobsApi, max_body_bytes: int = GatewaySettings.max_body_bytes) -> APIRouter:
    """The job routes; a job's body is read under the same limits as a predict request's."""
    router = jobs_router(max_body_bytes)
    inputs_of = input_adapters(jobs.specs)
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    refusals: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem} for code in (400, 404, 413, 415, 422)
    }

    ended: dict[int | str, dict[str, Any]] = {
        201: {"model": JobView, "description": "The job ended within the preferred wait."}
    }

    @router.post("", status_code=202, response_model=JobAccepted, responses={**ended, **refusals})
    async def submit(
        body: JobRequest,
        request: Request,
        prefer: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None, max_length=255),
    ) -> Response:
        """Accept a job; answers once the job is durably recorded. With ``Prefer: wait=N``
        the answer waits up to N seconds for the job to end: 201 with the ended job, else
        202 as without it. With ``Idempotency-Key``, the same submission sent again answers
        the first one's job (``Idempotent-Replayed: true``), never a second job."""
        caller = caller_of(request.scope)
        answer = await submit_job(jobs, inputs_of, caller, body, prefer, idempotency_key)
        return _response(answer)

    @router.get("/{job_id}", response_model=JobView, responses=not_found)
    async def get(
        job_id: str, request: Request, prefer: str | None = Header(default=None)
    ) -> Response:
        """The job's state, and its outputs or error once it has ended. With
        ``Prefer: wait=N`` the answer waits up to N seconds for the job to end."""
        return _response(await read_job(jobs, _tenant(request), job_id, prefer))

    @router.delete(
        "/{job_id}", response_model=JobView, responses={**not_found, 409: {"model": Problem}}
    )
    async def cancel(job_id: str, request: Request) -> Any:
        """Cancel a job that has not started; 409 once it runs or has ended."""
        tenant = _tenant(request)
        job = await find(jobs.store, job_id, tenant)
        now = time.time()
        cancelled = await jobs.store.cancel(job.id, tenant, now, now + jobs.settings.result_ttl_s)
        if cancelled is None:
            current = await find(jobs.store, job_id, tenant)
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
        job = await find(jobs.store, job_id, _tenant(request))
        after = header_int(last_event_id) or 0
        return StreamingResponse(
            _event_stream(jobs.store, job, after),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    return router


@dataclass(frozen=True)
class JobAnswer:
    """A job route's answer, whichever route machinery sends it."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]


async def submit_job(  # noqa: PLR0917 - the parts of one request
    jobs: JobsApi,
    inputs_of: InputAdapters,
    caller: Caller,
    body: JobRequest,
    prefer: str | None,
    idempotency_key: str | None = None,
) -> JobAnswer:
    """``POST /v1/jobs``: 202 once the job is recorded; with ``Prefer: wait``, 201 with the
    ended job when it ends within the wait. With an idempotency key, a submission sent
    again answers as the first did, with the first's job."""
    key = checked_key(idempotency_key)
    job = await admitted_job(jobs, inputs_of, caller, body)
    if key is not None:
        [job] = keyed([job], key)
    headers = [("location", job_location(job.id))]
    submitted = (
        record_job(jobs, caller, job, len(body.inputs))
        if key is None
        else _record_once(jobs, caller, job, len(body.inputs), headers)
    )
    wait_s = preferred_wait_s(prefer, jobs.settings.max_wait_s)
    if wait_s is None:
        return JobAnswer(202, accepted_body(await submitted), headers)
    headers.append(("preference-applied", preference_applied(wait_s)))
    # the job is watched before it is submitted: a job that ends at once still wakes us
    job = await jobs.store.wait_until_ended(job.id, job.tenant, wait_s, submitted) or job
    if job.status.terminal:
        return JobAnswer(201, orjson.dumps(job.view()), headers)
    return JobAnswer(202, accepted_body(job), headers)


async def read_job(jobs: JobsApi, tenant: str, job_id: str, prefer: str | None) -> JobAnswer:
    """``GET /v1/jobs/{id}``: the job; with ``Prefer: wait``, once it has ended or the wait
    is over."""
    job = await find(jobs.store, job_id, tenant)
    headers = []
    wait_s = preferred_wait_s(prefer, jobs.settings.max_wait_s)
    if wait_s is not None:
        headers.append(("preference-applied", preference_applied(wait_s)))
        if not job.status.terminal:
            job = await jobs.store.wait_until_ended(job.id, tenant, wait_s) or job
    return JobAnswer(200, orjson.dumps(job.view()), headers)


async def admitted_job(
    jobs: JobsApi, inputs_of: InputAdapters, caller: Caller, body: JobRequest
) -> Job:
    """The job ``body`` asks for, checked and admitted; not recorded yet."""
    payloads = validated_payloads(body, inputs_of)
    await caller.gate.release(await caller.gate.admit(caller.tenant, len(payloads)))
    check_webhook(jobs, body)
    return new_job(body, payloads, caller.tenant.name, time.time(), jobs.settings)


async def record_job(jobs: JobsApi, caller: Caller, job: Job, items: int) -> Job:
    """Record and queue ``job`` (durable on return); count it as the caller's usage."""
    await jobs.submit([job])
    caller.gate.usage.record(caller.tenant.name, job.model, requests=1, items=items)
    return job


async def _record_once(
    jobs: JobsApi, caller: Caller, job: Job, items: int, headers: list[tuple[str, str]]
) -> Job:
    """``record_job`` for a keyed job, unless its key's job is kept already: then that one
    (not counted again), said so in ``headers``."""
    [kept], replayed = await submit_once(jobs.store, jobs.submit, [job])
    if replayed:
        headers.append((REPLAYED_HEADER, "true"))
        return kept
    caller.gate.usage.record(caller.tenant.name, job.model, requests=1, items=items)
    return job


def job_location(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def accepted_body(job: Job) -> bytes:
    """The 202's body: the job's id, status and links."""
    location = job_location(job.id)
    accepted = {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "created_at": job.created_at,
        "links": {"self": location, "events": f"{location}/events"},
    }
    return orjson.dumps(accepted)


def check_webhook(jobs: JobsApi, body: JobRequest) -> None:
    """Refuse a webhook URL that the service may not call (``RequestError``)."""
    if body.webhook is not None and jobs.check_webhook_url is not None:
        jobs.check_webhook_url(body.webhook.url)


def new_job(
    body: JobRequest, payloads: list[bytes], tenant: str, now: float, settings: JobSettings
) -> Job:
    """The queued job that ``body`` asks for, its inputs already validated as ``payloads``."""
    deadline_s = min(body.deadline_s or settings.default_deadline_s, settings.max_deadline_s)
    return Job(
        id=new_job_id(),
        tenant=tenant,
        model=body.model,
        status=JobStatus.QUEUED,
        inputs=encode_inputs(payloads),
        created_at=now,
        deadline_at=now + deadline_s,
        webhook_url=body.webhook.url if body.webhook else None,
        trace=tracing.current_traceparent() or None,
    )


def _tenant(request: Request) -> str:
    return caller_of(request.scope).tenant.name


async def find(store: JobStore, job_id: str, tenant: str) -> Job:
    """The tenant's job; another tenant's job is ``JobNotFound``, as a missing one is."""
    job = await store.get(job_id, tenant) if is_job_id(job_id) else None
    if job is None:
        raise JobNotFound(job_id)
    return job


def _response(answer: JobAnswer) -> Response:
    return Response(
        answer.body, answer.status, headers=dict(answer.headers), media_type="application/json"
    )


def _json(job: Job) -> Response:
    # the view embeds the stored outputs as raw JSON (orjson.Fragment): encoded once, here
    return Response(orjson.dumps(job.view()), media_type="application/json")


InputAdapters = dict[str, tuple[TypeAdapter[Any], ModelSpec]]


def input_adapters(specs: Sequence[ModelSpec]) -> InputAdapters:
    """Per model name: the validator of a job's ``inputs`` and the model's spec."""
    return {s.name: (TypeAdapter(list[s.input_type]), s) for s in specs}  # type: ignore[name-defined]


def validated_payloads(
    body: JobRequest, inputs_of: InputAdapters, at: Sequence[str | int] = ("body",)
) -> list[bytes]:
    """Each input item of ``body`` validated against its model's type, as JSON. Errors name
    the place of a bad item from ``at``, where the job sits in the request."""
    entry = inputs_of.get(body.model)
    if entry is None:
        raise UnknownModel(body.model)
    adapter, spec = entry
    if len(body.inputs) > spec.max_items_per_request:
        where = ".".join(str(part) for part in at)
        raise InvalidInput(f"{where}.inputs: at most {spec.max_items_per_request} items per job")
    try:
        items = adapter.validate_python(body.inputs)
    except ValidationError as exc:
        errors = [
            {"loc": [*at, "inputs", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        where = ".".join(str(part) for part in errors[0]["loc"])
        raise InvalidInput(f"{where}: {errors[0]['msg']}", errors) from None
    return [spec.input_adapter.dump_json(item) for item in items]


async def _event_stream(store: JobStore, job: Job, after: int) -> AsyncIterator[bytes]:
    job_id = job.id
    if job.status.terminal and not await store.events_after(job_id, 0):
        # only the job history has it: its events went with Redis, its final state did not
        yield _sse(JobEvent(job_id, after + 1, job.status, orjson.dumps(job.view())))
        return
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
