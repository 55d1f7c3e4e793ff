"""``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` as plain ASGI routes, ahead of FastAPI.

A client that runs one job per request sends one or two requests per job. Through FastAPI's
request machinery (its middleware stack, matching across every route, solving
dependencies, its request and response objects) they cost about two thirds of the
gateway's CPU (measured with py-spy under ``benchmarks/jobs.py``), as predict requests did
before they became plain ASGI (``scaleserve.api.predict``). ``JobShortcuts`` hands these
two routes to the gateway, which answers them before FastAPI sees them, exactly as the
FastAPI routes of ``scaleserve.api.jobs`` would: the same body limits
(``scaleserve.api.body``), the same validation (``JobRequest``), the same work
(``submit_job``, ``read_job``) and the same problem bodies. Those FastAPI routes stay
declared: they describe the API in the OpenAPI document.
"""

from __future__ import annotations

import logging

from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from scaleserve.api.body import check_headers, parse_json, read_body
from scaleserve.api.caller import caller_of
from scaleserve.api.jobs import JobAnswer, JobRequest, JobsApi, input_adapters, read_job, submit_job
from scaleserve.api.prefer import PREFER_HEADER
from scaleserve.api.protocol_route import validation_error
from scaleserve.api.raw_response import send_problem, send_response
from scaleserve.errors import ScaleserveError

log = logging.getLogger(__name__)

_JSON = (b"content-type", b"application/json")
_PREFER = PREFER_HEADER.encode()
_IDEMPOTENCY_KEY = b"idempotency-key"
_BODY_HEADERS = frozenset({b"content-type", b"content-length", _PREFER, _IDEMPOTENCY_KEY})
_MISSING_BODY = [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
_JOBS = "/v1/jobs"
_ONE_JOB = "/v1/jobs/"


class JobShortcuts:
    """The gateway's shortcut to the two job routes (see ``scaleserve.api.gateway``)."""

    def __init__(self, jobs: JobsApi, max_body_bytes: int) -> None:
        self._submit = _Submit(jobs, max_body_bytes)
        self._read = _Read(jobs)

    def handler(self, scope: Scope) -> ASGIApp | None:
        path, method = scope["path"], scope["method"]
        if path == _JOBS:
            return self._submit if method == "POST" else None
        if path.startswith(_ONE_JOB) and method in {"GET", "HEAD"}:
            job_id = path[len(_ONE_JOB) :]
            if job_id and "/" not in job_id:
                scope["path_params"] = {"job_id": job_id}
                return self._read
        return None


class _Submit:
    def __init__(self, jobs: JobsApi, max_body_bytes: int) -> None:
        self._jobs = jobs
        self._limit = max_body_bytes
        self._inputs_of = input_adapters(jobs.specs)
        self._request: TypeAdapter[JobRequest] = TypeAdapter(JobRequest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope, _BODY_HEADERS)
        try:
            body = await self._body(headers, receive)
            answer = await submit_job(
                self._jobs,
                self._inputs_of,
                caller_of(scope),
                body,
                headers.get(_PREFER),
                headers.get(_IDEMPOTENCY_KEY),
            )
        except Exception as exc:  # every failure answers as a problem body
            await _send_problem(send, exc, scope)
            return
        await _send_answer(send, answer)

    async def _body(self, headers: dict[bytes, str], receive: Receive) -> JobRequest:
        """The request's job, read and checked as the FastAPI route's class reads it."""
        check_headers(headers.get(b"content-type"), headers.get(b"content-length"), self._limit)
        body = await read_body(receive, self._limit)
        if not body:
            raise validation_error(_MISSING_BODY)
        try:
            return self._request.validate_python(parse_json(body))
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_context=False, include_input=False)
            raise validation_error([{**p, "loc": ["body", *p["loc"]]} for p in problems]) from None


class _Read:
    def __init__(self, jobs: JobsApi) -> None:
        self._jobs = jobs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefer = _headers(scope, frozenset({_PREFER})).get(_PREFER)
        try:
            tenant = caller_of(scope).tenant.name
            answer = await read_job(self._jobs, tenant, scope["path_params"]["job_id"], prefer)
        except Exception as exc:  # every failure answers as a problem body
            await _send_problem(send, exc, scope)
            return
        await _send_answer(send, answer)


def _headers(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, str]:
    return {k: v.decode("latin-1") for k, v in scope["headers"] if k in wanted}


async def _send_answer(send: Send, answer: JobAnswer) -> None:
    headers = [_JSON, *((k.encode(), v.encode("latin-1")) for k, v in answer.headers)]
    await send_response(send, answer.status, answer.body, headers)


async def _send_problem(send: Send, exc: Exception, scope: Scope) -> None:
    if not isinstance(exc, ScaleserveError):
        log.error("%s %s failed unexpectedly", scope["method"], scope["path"], exc_info=exc)
    await send_problem(send, exc if isinstance(exc, ScaleserveError) else None)
