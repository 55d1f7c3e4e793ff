"""Turns scaleserve errors into JSON problem responses (RFC 9457 with a stable ``code``)."""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from scaleserve import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"

# (status, title, code) per error class; the most specific class listed wins.
_STATUS: dict[type[errors.ScaleserveError], tuple[int, str, str]] = {
    errors.InvalidModelName: (400, "Invalid model name", "invalid_model_name"),
    errors.UnknownModel: (404, "Unknown model", "unknown_model"),
    errors.JobNotFound: (404, "Job not found", "job_not_found"),
    errors.UnknownCollection: (404, "Unknown collection", "unknown_collection"),
    errors.UnknownFeatureView: (404, "Unknown feature view", "unknown_feature_view"),
    errors.TooManyItems: (413, "Too many items", "too_many_items"),
    errors.JobNotCancellable: (409, "Job not cancellable", "job_not_cancellable"),
    errors.IdempotencyKeyReused: (422, "Idempotency key reused", "idempotency_key_reused"),
    errors.NoJobHistory: (501, "No job history", "no_job_history"),
    errors.MalformedJSON: (400, "Malformed JSON", "malformed_json"),
    errors.InvalidInput: (422, "Invalid input", "invalid_input"),
    errors.JsonLimitExceeded: (400, "JSON over the limits", "json_limit_exceeded"),
    errors.UnsupportedMedia: (415, "Unsupported media type", "unsupported_media_type"),
    errors.BodyTooLarge: (413, "Request body too large", "body_too_large"),
    errors.BodyTimeout: (408, "Request body too slow", "body_timeout"),
    errors.BodyIncomplete: (400, "Request body incomplete", "body_incomplete"),
    errors.WebhookRefused: (400, "Webhook refused", "webhook_refused"),
    errors.MethodNotAllowed: (405, "Method not allowed", "method_not_allowed"),
    errors.Unauthenticated: (401, "Unauthenticated", "unauthenticated"),
    errors.Forbidden: (403, "Forbidden", "forbidden"),
    errors.QuotaExceeded: (429, "Quota exceeded", "quota_exceeded"),
    errors.RateLimited: (429, "Rate limited", "rate_limited"),
    errors.UnknownTenant: (404, "Unknown tenant", "unknown_tenant"),
    errors.TenantExists: (409, "Tenant exists", "tenant_exists"),
    errors.UnknownAlias: (404, "Unknown alias", "unknown_alias"),
    errors.UnknownVersion: (404, "Unknown version", "unknown_version"),
    errors.Conflict: (409, "Conflict", "conflict"),
    errors.UnsafeArtifact: (422, "Unsafe artifact", "unsafe_artifact"),
    errors.DeploymentRefused: (409, "Deployment refused", "deployment_refused"),
    errors.RequestError: (400, "Bad request", "bad_request"),
    errors.Overloaded: (503, "Overloaded", "overloaded"),
    errors.NoHealthyWorker: (503, "No healthy worker", "no_healthy_worker"),
    errors.QueueUnavailable: (503, "Queue unavailable", "queue_unavailable"),
    errors.HistoryUnavailable: (503, "Job history unavailable", "history_unavailable"),
    errors.WorkerLost: (503, "Worker lost", "worker_lost"),
    errors.DeadlineExceeded: (504, "Deadline exceeded", "deadline_exceeded"),
    errors.ModelFailed: (500, "Model failed", "model_error"),
    errors.ArtifactCorrupt: (500, "Artifact corrupt", "artifact_corrupt"),
    errors.ServingError: (503, "Unavailable", "unavailable"),
}


def problem_body(
    error: errors.ScaleserveError | None,
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, JSON body and headers answering ``error`` (``None``: an unexpected failure)."""
    if error is None:
        status, title, code = 500, "Internal error", "internal_error"
        detail = "an unexpected error occurred; it has been logged"
    else:
        status, title, code = _lookup(error)
        detail = str(error)
    body: dict[str, Any] = {"title": title, "status": status, "detail": detail, "code": code}
    if isinstance(error, errors.InvalidInput) and error.errors:
        body["errors"] = error.errors
    if isinstance(error, errors.RateLimited):
        body["limit"] = error.limit
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode())]
    if isinstance(error, errors.MethodNotAllowed):
        headers.append((b"allow", error.allowed.encode()))
    if isinstance(error, errors.Unauthenticated):
        headers.append((b"www-authenticate", b"Bearer"))
    if isinstance(error, errors.BodyTimeout):
        headers.append((b"connection", b"close"))  # stop reading what the client trickles
    retry_after_s = getattr(error, "retry_after_s", None)
    if retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after_s))).encode()))
    return status, orjson.dumps(body), headers


def problem_response(error: errors.ScaleserveError | None) -> Response:
    """The problem response answering ``error`` (``None``: an unexpected failure, logged)."""
    status, body, headers = problem_body(error)
    response = Response(body, status)
    response.raw_headers = [*headers, (b"content-length", str(len(body)).encode())]
    return response


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {"title": title, "status": status, "detail": detail, "code": code, **extra}
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def install_handlers(app: FastAPI) -> None:
    """Make FastAPI's own errors (unknown route, bad parameters) speak the same JSON, and
    a bug of ours too: a 500 with a problem body (Starlette still logs the exception)."""

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        return problem(
            exc.status_code, str(exc.detail), str(exc.detail), code, headers=dict(exc.headers or {})
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem(
            422,
            "Invalid input",
            "the request does not match the schema",
            "invalid_input",
            errors=[_jsonable(e) for e in exc.errors()],
        )

    async def on_scaleserve_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.ScaleserveError)
        return problem_response(exc)

    async def on_unexpected_error(request: Request, exc: Exception) -> Response:
        return problem_response(None)

    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(errors.ScaleserveError, on_scaleserve_error)
    app.add_exception_handler(Exception, on_unexpected_error)


def _lookup(error: errors.ScaleserveError) -> tuple[int, str, str]:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500, "Internal error", "internal_error"


def _jsonable(error: Any) -> dict[str, Any]:
    return {
        "loc": list(error.get("loc", ())),
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }
