"""The one exception tree of scaleserve.

Domain code raises these; only ``scaleserve.api`` turns them into HTTP responses.

    ScaleserveError
    ├── ConfigError            a model class or a target is declared wrongly
    ├── RequestError           the client sent something scaleserve will not run
    │   ├── InvalidModelName   a name that no model could have (not an identifier)
    │   ├── UnknownModel       no model of that name is served
    │   │   ├── UnknownVersion  the model serves another version (or has none such)
    │   │   └── UnknownAlias    the model has no such alias
    │   ├── JobNotFound        no such job (or not the caller's)
    │   ├── JobNotCancellable  the job has started or ended
    │   ├── IdempotencyKeyReused  a key sent again with another submission
    │   ├── NoJobHistory       listing jobs needs a job history, and none is configured
    │   ├── UnknownCollection  no vector collection of that name (or not the caller's)
    │   ├── UnknownFeatureView no served model reads a feature view of that name
    │   ├── TooManyItems       more items in one call than the route takes
    │   ├── InvalidInput       the body does not match the model's declared types
    │   │   └── MalformedJSON  the body is not JSON at all
    │   ├── JsonLimitExceeded  the body is JSON, nested too deep or with numbers too large
    │   ├── MethodNotAllowed   the route exists, not for that method
    │   ├── UnsupportedMedia   the body is not JSON
    │   ├── BodyTooLarge       the body is over the configured limit
    │   ├── WebhookRefused     a webhook URL points where scaleserve will not call
    │   ├── Unauthenticated    no valid API key (missing, malformed, unknown or revoked)
    │   ├── Forbidden          a valid key that may not use this surface (admin vs tenant)
    │   ├── RateLimited        the tenant is over a rate, quota or concurrency limit
    │   │   └── QuotaExceeded  the tenant used up a daily quota
    │   ├── UnknownTenant      no tenant of that name (admin surface)
    │   ├── TenantExists       a tenant of that name exists already (admin surface)
    │   ├── Conflict           another change won (a version exists, a concurrent edit)
    │   ├── UnsafeArtifact     an artifact scaleserve will not store or load as it is
    │   └── DeploymentRefused  the change cannot be made (a version that fails to load)
    ├── JobsExist              (store side) a submission's job ids are taken already
    ├── ArtifactCorrupt        a stored artifact no longer matches its sha256
    ├── StreamCancelled        (worker side) the client of a stream went away
    └── ServingError           accepted work could not be answered
        ├── Overloaded         the model's queue is full (retry later)
        ├── NoHealthyWorker    the model has no worker able to serve
        ├── QueueUnavailable   the queue's store (Redis) cannot be reached
        ├── HistoryUnavailable the job history (PostgreSQL) cannot be reached
        ├── WorkerLost         the worker running the request died
        ├── DeadlineExceeded   the request's deadline passed
        └── ModelFailed        the model raised while predicting
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ScaleserveError(Exception):
    """Base of every error scaleserve raises on purpose."""


class ConfigError(ScaleserveError):
    """A model class, a target or a setting is declared wrongly."""


class RequestError(ScaleserveError):
    """The client sent something scaleserve will not run."""


class InvalidModelName(RequestError):
    """A model name that is not an identifier (a path, an encoded ``..``): no model has it."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name[:80]!r} is not a model name: a name is 1 to 64 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
        self.name = name


class UnknownModel(RequestError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no model named {name!r} is served")
        self.name = name


class JobNotFound(RequestError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id[:64]!r}")


class UnknownCollection(RequestError):
    """No vector collection of that name belongs to the caller."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no collection named {name!r}")
        self.name = name


class UnknownFeatureView(RequestError):
    """No served model reads a feature view of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no feature view named {name!r}")
        self.name = name


class TooManyItems(RequestError):
    """More items in one call than the route takes."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"at most {limit} {what} per call")
        self.limit = limit


class JobNotCancellable(RequestError):
    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id} is {status}; only a queued job can be cancelled")


class IdempotencyKeyReused(RequestError):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was sent before with another submission (other models,"
            " inputs or webhooks); use a new key for a new submission"
        )


class JobsExist(ScaleserveError):
    """Jobs of these ids are recorded already (an idempotent submission sent again):
    nothing was recorded."""


class NoJobHistory(RequestError):
    def __init__(self) -> None:
        super().__init__(
            "listing jobs on Redis needs a job history: set SCALESERVE_JOBS_HISTORY_URL"
            " (postgresql://…)"
        )


class UnknownVersion(UnknownModel):
    def __init__(self, name: str, version: str, served: str | None = None) -> None:
        message = f"model {name!r} has no version {version[:80]!r}"
        if served is not None:
            message += f"; it serves {served!r}"
        RequestError.__init__(self, message)
        self.name = name
        self.version = version


class UnknownAlias(UnknownModel):
    def __init__(self, name: str, alias: str) -> None:
        RequestError.__init__(self, f"model {name!r} has no alias {alias[:80]!r}")
        self.name = name
        self.alias = alias


class Conflict(RequestError):
    """Another change won: the thing exists already, or someone changed it first."""


class UnsafeArtifact(RequestError):
    """An artifact scaleserve will not store or load as it is (a path out of its folder, a
    link, a pickle without an admin's explicit permission)."""


class DeploymentRefused(RequestError):
    """The deployment change cannot be made; the message says why (e.g. the version's
    ``load()`` failed), and what was serving goes on serving."""


class ArtifactCorrupt(ScaleserveError):
    """A stored artifact file no longer has the sha256 it was registered with."""


class InvalidInput(RequestError):
    """The body does not match the model's declared input types."""

    def __init__(self, message: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class MalformedJSON(InvalidInput):
    """The body is not valid JSON."""


class JsonLimitExceeded(RequestError):
    """The body is JSON but nested deeper, or holds numbers larger, than the gateway takes."""


class MethodNotAllowed(RequestError):
    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(f"method {method} is not allowed here; use {allowed}")
        self.allowed = allowed


class UnsupportedMedia(RequestError):
    def __init__(self, content_type: str) -> None:
        super().__init__(f"content type {content_type!r} is not accepted; send application/json")
        self.content_type = content_type


class BodyTooLarge(RequestError):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"request body is over the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class BodyIncomplete(RequestError):
    """The client closed its connection before its body was whole."""

    def __init__(self) -> None:
        super().__init__("the client went away before its request body was whole")


class BodyTimeout(RequestError):
    """The request's body did not arrive whole in time (a slow or stalled client)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the request body did not arrive within {timeout_s:g} s")
        self.timeout_s = timeout_s


class WebhookRefused(RequestError):
    """A webhook URL points where scaleserve will not call: its scheme, host or address."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook URL refused: {reason}")
        self.reason = reason


class Unauthenticated(RequestError):
    """No valid API key. One message for every cause, so callers learn nothing from it."""

    def __init__(self) -> None:
        super().__init__("a valid API key is required: send 'Authorization: Bearer <key>'")


class Forbidden(RequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class RateLimited(RequestError):
    """The tenant is over one of its limits; ``limit`` names which one."""

    def __init__(self, limit: str, retry_after_s: float, message: str | None = None) -> None:
        super().__init__(message or f"over the tenant's {limit} limit; retry later")
        self.limit = limit
        self.retry_after_s = retry_after_s


class QuotaExceeded(RateLimited):
    def __init__(self, limit: str, retry_after_s: float) -> None:
        super().__init__(limit, retry_after_s, f"the tenant's {limit} quota is used up for today")


class UnknownTenant(RequestError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no tenant named {name[:64]!r}")
        self.name = name


class TenantExists(RequestError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a tenant named {name!r} exists already")
        self.name = name


class StreamCancelled(ScaleserveError):
    """The gateway stopped a streamed item because its client went away (worker side)."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"the stream of item {item_id} was cancelled")
        self.item_id = item_id


class ServingError(ScaleserveError):
    """Accepted work could not be answered."""

    retry_after_s: float | None = None


class Overloaded(ServingError):
    def __init__(self, model: str, bound: int, retry_after_s: float = 1.0) -> None:
        super().__init__(f"model {model!r} has {bound} items queued or running, its bound")
        self.retry_after_s = retry_after_s


class NoHealthyWorker(ServingError):
    def __init__(self, model: str, retry_after_s: float = 5.0) -> None:
        super().__init__(f"model {model!r} has no healthy worker")
        self.retry_after_s = retry_after_s


class QueueUnavailable(ServingError):
    def __init__(self, message: str, retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class HistoryUnavailable(ServingError):
    def __init__(self, message: str, retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WorkerLost(ServingError):
    def __init__(self, model: str, retry_after_s: float = 1.0) -> None:
        super().__init__(f"the worker running this request for model {model!r} died")
        self.retry_after_s = retry_after_s


class DeadlineExceeded(ServingError):
    def __init__(self, timeout_s: float | None = None) -> None:
        if timeout_s is None:
            super().__init__("the request's deadline passed before it ran")
        else:
            super().__init__(f"the request did not finish within its deadline of {timeout_s:g}s")
        self.timeout_s = timeout_s


class ModelFailed(ServingError):
    """The model raised while predicting; the message names the model's own error."""

    def __init__(self, model: str, error: str) -> None:
        super().__init__(f"model {model!r} failed: {error}")
        self.model = model
        self.error = error
