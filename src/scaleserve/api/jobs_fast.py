"""``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` as plain ASGI routes, ahead of FastAPI's.

A client that runs one job per request sends two requests per job. Through FastAPI's
request machinery (matching across every route, solving dependencies, its request and
response objects) they cost about two thirds of the gateway's CPU (measured with py-spy
under ``benchmarks/jobs.py``), as predict requests did before they became plain ASGI
(``scaleserve.api.predict``). These two routes answer exactly as the FastAPI routes of
``scaleserve.api.jobs`` would: the same body limits (``scaleserve.api.body``), the same
validation (``JobRequest``), the same work (``accept``, ``find``) and the same problem
bodies. Those FastAPI routes stay declared: they describe the API in the OpenAPI document.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from scaleserve.api.body import check_headers, parse_json, read_body
from scaleserve.api.caller import caller_of
from scaleserve.api.jobs import JobRequest, JobsApi, accept, find, input_adapters
from scaleserve.api.problems import problem_body
from scaleserve.api.protocol_route import validation_error
from scaleserve.errors import ScaleserveError

log = logging.getLogger(__name__)

_JSON = (b"content-type", b"application/json")
_BODY_HEADERS = frozenset({b"content-type", b"content-length"})
_MISSING_BODY = [{"loc": ["body"], "msg": "Field required", "type": "missing"}]


def routes(jobs: JobsApi, max_body_bytes: int) -> list[BaseRoute]:
    """The two routes, to go first in the app's router."""
    return [
        Route("/v1/jobs", _Submit(jobs, max_body_bytes), methods=["POST"], include_in_schema=False),
        Route("/v1/jobs/{job_id}", _Read(jobs), methods=["GET"], include_in_schema=False),
    ]


class _Submit:
    def __init__(self, jobs: JobsApi, max_body_bytes: int) -> None:
        self._jobs = jobs
        self._limit = max_body_bytes
        self._inputs_of = input_adapters(jobs.specs)
        self._request: TypeAdapter[JobRequest] = TypeAdapter(JobRequest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            accepted, location = await accept(
                self._jobs, self._inputs_of, caller_of(scope), await self._body(scope, receive)
            )
        except Exception as exc:  # every failure answers as a problem body
            await _send_problem(send, exc, scope)
            return
        headers = [_JSON, (b"location", location.encode())]
        await _send(send, 202, accepted, headers)

    async def _body(self, scope: Scope, receive: Receive) -> JobRequest:
        """The request's job, read and checked as the FastAPI route's class reads it."""
        headers = {k: v.decode("latin-1") for k, v in scope["headers"] if k in _BODY_HEADERS}
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
        self._store = jobs.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            tenant = caller_of(scope).tenant.name
            job = await find(self._store, scope["path_params"]["job_id"], tenant)
        except Exception as exc:  # every failure answers as a problem body
            await _send_problem(send, exc, scope)
            return
        await _send(send, 200, orjson.dumps(job.view()), [_JSON])


async def _send_problem(send: Send, exc: Exception, scope: Scope) -> None:
    if not isinstance(exc, ScaleserveError):
        log.error("%s %s failed unexpectedly", scope["method"], scope["path"], exc_info=exc)
    status, body, headers = problem_body(exc if isinstance(exc, ScaleserveError) else None)
    await _send(send, status, body, headers)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    all_headers: list[Any] = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
