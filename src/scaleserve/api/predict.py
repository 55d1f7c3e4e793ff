"""``POST /v1/models/{name}/predict``: the hot path, as a plain ASGI handler.

It validates the body with the model's own pydantic types in one pass and writes the
workers' JSON outputs into the response without decoding them. It skips the framework's
per-request machinery on purpose (measured: it cost a third of the gateway's CPU); its
OpenAPI description comes from ``scaleserve.api.openapi``.

A model with a cache policy is answered through its ``ModelCache`` (items found there never
reach the queue) and its responses say how in ``X-Cache``; a model without one pays a
single attribute check for the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from scaleserve.api.audit_hook import REQUEST_BODY_KEY, error_output
from scaleserve.api.body import check_headers, parse_json, read_body
from scaleserve.api.caller import CALLER_KEY, Caller, caller_of
from scaleserve.api.protocol_route import requested_timeout_s
from scaleserve.api.raw_response import send_problem, send_response
from scaleserve.api.routes import find_model
from scaleserve.api.schemas import predict_request_model
from scaleserve.cache.outcome import CacheControl
from scaleserve.errors import (
    InvalidInput,
    MethodNotAllowed,
    Overloaded,
    RequestError,
    ScaleserveError,
)
from scaleserve.features.join import join_batch
from scaleserve.features.store import FeatureStore
from scaleserve.model.spec import ModelSpec
from scaleserve.observe.request_metrics import RequestMetrics
from scaleserve.observe.tenant_labels import TenantLabels
from scaleserve.queue.broker import Broker
from scaleserve.registry.ticket import VERSION_HEADER, answered_version, version_header
from scaleserve.settings import GatewaySettings

if TYPE_CHECKING:
    from scaleserve.api.audit_hook import PredictionAudit
    from scaleserve.cache.readthrough import ModelCache
    from scaleserve.cache.result_cache import ResultCache
    from scaleserve.observe.drift_watch import DriftWatch
    from scaleserve.observe.recent_errors import RecentErrors

log = logging.getLogger(__name__)

TIMEOUT_HEADER = b"x-request-timeout"
CACHE_CONTROL_HEADER = b"cache-control"
_PREFIX = "/v1/models/"
_SUFFIX = "/predict"
_JSON_HEADERS = [(b"content-type", b"application/json")]
MAX_VERSION_PREFIXES = 64


def _located(error: InvalidInput, index: int) -> InvalidInput:
    """``error`` of input ``index``, its locations under ``body.inputs[index]``."""
    where = [{**e, "loc": ["body", "inputs", index, *e.get("loc", [])]} for e in error.errors]
    return InvalidInput(f"inputs[{index}]: {error}", where)


def predict_route_model(path: str) -> str | None:
    """The model name if ``path`` is a predict route, else ``None``."""
    if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        return None
    name = path[len(_PREFIX) : -len(_SUFFIX)]
    return name if name and "/" not in name else None


class ModelEndpoint:
    """What the gateway precomputes per model to answer a predict request quickly."""

    def __init__(
        self, spec: ModelSpec, tenants: TenantLabels, cache: ModelCache | None = None
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.request_adapter: TypeAdapter[Any] = TypeAdapter(predict_request_model(spec))
        self.response_prefix = self._prefix(spec.version)
        self._prefixes: dict[str, bytes] = {spec.version: self.response_prefix}
        self.metrics = RequestMetrics(spec.name, tenants)

    def parse(self, body: bytes) -> list[bytes]:
        """Validate ``body`` and return each input item as JSON for the workers."""
        return self._validated(parse_json(body))

    async def parse_joined(self, body: bytes, store: FeatureStore, tenant: str) -> list[bytes]:
        """``parse``, with the model's online features joined into each input first (one
        read per view for all of them, shared with concurrent requests)."""
        value = parse_json(body)
        inputs = value.get("inputs") if isinstance(value, dict) else None
        if (
            isinstance(inputs, list)
            and len(inputs) <= self.spec.max_items_per_request
            and all(isinstance(item, dict) for item in inputs)
        ):
            joined = await join_batch(store, self.spec.features, inputs, tenant, time.time())
            for index, outcome in enumerate(joined):
                if isinstance(outcome, InvalidInput):
                    raise _located(outcome, index)
            value = {**value, "inputs": joined}
        return self._validated(value)

    def _validated(self, value: Any) -> list[bytes]:
        try:
            request = self.request_adapter.validate_python(value)
        except ValidationError as exc:
            raise _input_error(exc) from None
        dump = self.spec.input_adapter.dump_json
        return [dump(item) for item in request.inputs]

    def render(self, outputs: list[bytes]) -> bytes:
        """The response body, naming the version that answered (a registry model may
        answer at several)."""
        version = answered_version(self.spec.name, self.spec.version)
        prefix = self._prefixes.get(version)
        if prefix is None:
            if len(self._prefixes) > MAX_VERSION_PREFIXES:
                self._prefixes.clear()
            prefix = self._prefixes[version] = self._prefix(version)
        return prefix + b",".join(outputs) + b"]}"

    def _prefix(self, version: str) -> bytes:
        name = orjson.dumps(self.spec.name)
        return b'{"model":' + name + b',"version":' + orjson.dumps(version) + b',"outputs":['


class PredictHandler:
    """Answers predict requests for every served model through ``broker``."""

    def __init__(
        self,
        specs: Iterable[ModelSpec],
        broker: Broker,
        settings: GatewaySettings,
        cache: ResultCache | None = None,
        *,
        drift: DriftWatch | None = None,
        errors: RecentErrors | None = None,
        features: FeatureStore | None = None,
        audit: PredictionAudit | None = None,
    ) -> None:
        tenants = TenantLabels.from_env()
        self._features = features
        self._audit = audit
        self._drift = drift
        self._errors = errors
        self._endpoints = {
            spec.name: ModelEndpoint(spec, tenants, cache.for_model(spec.name) if cache else None)
            for spec in specs
        }
        self._broker = broker
        self._settings = settings

    def handler(self, scope: Scope) -> ASGIApp | None:
        """The gateway's shortcut to predict routes (see ``scaleserve.api.gateway``)."""
        name = predict_route_model(scope["path"])
        if name is None:
            return None
        scope["path_params"] = {"name": name}
        return self._handle

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["name"]
        if scope["method"] != "POST":
            await send_problem(send, MethodNotAllowed(scope["method"], "POST"))
            return
        try:
            endpoint = find_model(self._endpoints, name)
        except RequestError as exc:
            await send_problem(send, exc)
            return
        started = time.perf_counter()
        counted = endpoint.metrics
        counted.in_flight.inc()
        items, failure = 0, ""
        body, headers = b"", list[tuple[bytes, bytes]]()
        try:
            body, headers, items = await self._predict(endpoint, scope, receive)
        except ScaleserveError as exc:
            status, failure = await send_problem(send, exc, _versions()), str(exc)
        except Exception:  # a bug of ours must still answer, in JSON, and keep serving
            log.exception("predict on %r failed unexpectedly", name)
            status = await send_problem(send, None, _versions())
            failure = "internal error (see the gateway's log)"
        else:
            status = 200
            await send_response(send, status, body, headers)
        finally:
            counted.in_flight.dec()
        version = answered_version(name, endpoint.spec.version)
        took_s = time.perf_counter() - started
        counted.record(version, _tenant(scope), status, items, took_s)
        if status >= 500 and self._errors is not None:
            self._errors.add(name, version, _tenant(scope), status, failure)
        if self._audit is not None and endpoint.spec.audit is not None:
            output = body if status == 200 else error_output(failure)
            self._audit.record(endpoint.spec, version, scope, status, took_s, output, headers)

    async def _predict(
        self, endpoint: ModelEndpoint, scope: Scope, receive: Receive
    ) -> tuple[bytes, list[tuple[bytes, bytes]], int]:
        """The response body, headers and item count of a request that succeeds."""
        headers = _headers(scope)
        limit = self._settings.max_body_bytes
        check_headers(headers.get(b"content-type"), headers.get(b"content-length"), limit)
        timeout_s = self._timeout_s(endpoint.spec, headers.get(TIMEOUT_HEADER))
        caller = caller_of(scope)
        self._refuse_if_full(endpoint)
        body = await read_body(receive, limit)
        if self._audit is not None and endpoint.spec.audit is not None:
            scope[REQUEST_BODY_KEY] = body
        if endpoint.spec.features and self._features is not None:
            payloads = await endpoint.parse_joined(body, self._features, caller.tenant.name)
        else:
            payloads = endpoint.parse(body)
        control = CacheControl.parse(headers.get(CACHE_CONTROL_HEADER))
        ask = _Ask(payloads, timeout_s, caller.tenant.name, control)
        async with caller.serving(endpoint.spec.name, len(payloads)) as served:
            answered_by, body, extra = await self._answer(endpoint, ask)
            served.model = answered_by.spec.name
        if answered_by is not endpoint:
            extra = [*extra, (b"x-fallback-for", endpoint.spec.name.encode())]
        return body, [*extra, *_versions()], len(payloads)

    def _refuse_if_full(self, endpoint: ModelEndpoint) -> None:
        """``Overloaded`` before the body is read when the model's queue is full and nothing
        else could answer (no cache with stale entries, no fallback)."""
        spec = endpoint.spec
        alone = endpoint.cache is None and spec.fallback is None
        if alone and self._broker.depth(spec.name) >= spec.max_queue_items:
            raise Overloaded(spec.name, spec.max_queue_items)

    async def _answer(
        self, endpoint: ModelEndpoint, ask: _Ask
    ) -> tuple[ModelEndpoint, bytes, list[tuple[bytes, bytes]]]:
        """The endpoint that answered, and its body and headers: the model's own, or its
        fallback's when it has no worker ready or its queue is full."""
        fallback = self._endpoints.get(endpoint.spec.fallback or "")
        if fallback is None:
            return endpoint, *await self._compute(endpoint, ask)
        if self._broker.ready_workers(endpoint.spec.name) == 0:
            return fallback, *await self._compute(fallback, ask)
        try:
            return endpoint, *await self._compute(endpoint, ask)
        except Overloaded:
            return fallback, *await self._compute(fallback, ask)

    async def _compute(
        self, endpoint: ModelEndpoint, ask: _Ask
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        name = endpoint.spec.name
        if endpoint.cache is None:
            outputs = await self._broker.submit(name, ask.payloads, ask.timeout_s)
            headers = _JSON_HEADERS
        else:
            answer = await endpoint.cache.answer(
                ask.payloads, ask.timeout_s, tenant=ask.tenant, control=ask.control
            )
            outputs, headers = answer.outputs, [*_JSON_HEADERS, (b"x-cache", answer.x_cache)]
        if self._drift is not None and self._drift.watches(name):
            version = answered_version(name, endpoint.spec.version)
            self._drift.observe(name, version, ask.payloads, outputs)
        return endpoint.render(outputs), headers

    def _timeout_s(self, spec: ModelSpec, raw: str | None) -> float:
        return requested_timeout_s(raw, spec.timeout_s, self._settings.max_timeout_s)


@dataclass(frozen=True, slots=True)
class _Ask:
    """One request's work, as any of the models that may answer it sees it."""

    payloads: list[bytes]
    timeout_s: float
    tenant: str
    control: CacheControl


def _versions() -> list[tuple[bytes, bytes]]:
    """``X-Model-Version`` when a registry model answered (or failed to)."""
    version = version_header()
    return [] if version is None else [(VERSION_HEADER, version)]


def _tenant(scope: Scope) -> str:
    caller = scope.get(CALLER_KEY)
    return caller.tenant.name if isinstance(caller, Caller) else ""


def _headers(scope: Scope) -> dict[bytes, str]:
    wanted = (b"content-type", b"content-length", TIMEOUT_HEADER, CACHE_CONTROL_HEADER)
    return {k: v.decode("latin-1") for k, v in scope["headers"] if k in wanted}


def _input_error(exc: ValidationError) -> InvalidInput:
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    listed = [{"loc": ["body", *p["loc"]], "msg": p["msg"], "type": p["type"]} for p in problems]
    where = ".".join(str(part) for part in listed[0]["loc"])
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    return InvalidInput(f"{where}: {listed[0]['msg']}{more}", listed)
