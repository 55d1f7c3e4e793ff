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
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from scaleserve.api.body import check_headers, read_body
from scaleserve.api.problems import problem_body
from scaleserve.api.schemas import predict_request_model
from scaleserve.cache.outcome import CacheControl
from scaleserve.errors import (
    InvalidInput,
    MalformedJSON,
    MethodNotAllowed,
    RequestError,
    ScaleserveError,
    UnknownModel,
)
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker
from scaleserve.settings import GatewaySettings

if TYPE_CHECKING:
    from scaleserve.cache.readthrough import ModelCache
    from scaleserve.cache.result_cache import ResultCache

log = logging.getLogger(__name__)

TIMEOUT_HEADER = b"x-request-timeout"
CACHE_CONTROL_HEADER = b"cache-control"
_PREFIX = "/v1/models/"
_SUFFIX = "/predict"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def predict_route_model(path: str) -> str | None:
    """The model name if ``path`` is a predict route, else ``None``."""
    if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        return None
    name = path[len(_PREFIX) : -len(_SUFFIX)]
    return name if name and "/" not in name else None


class ModelEndpoint:
    """What the gateway precomputes per model to answer a predict request quickly."""

    def __init__(self, spec: ModelSpec, cache: ModelCache | None = None) -> None:
        self.spec = spec
        self.cache = cache
        self.request_adapter: TypeAdapter[Any] = TypeAdapter(predict_request_model(spec))
        self.response_prefix = (
            b'{"model":'
            + orjson.dumps(spec.name)
            + b',"version":'
            + orjson.dumps(spec.version)
            + b',"outputs":['
        )
        self.requests_ok = metrics.REQUESTS.labels(spec.name, "200")
        self.duration_ok = metrics.REQUEST_DURATION.labels(spec.name, "200")

    def parse(self, body: bytes) -> list[bytes]:
        """Validate ``body`` and return each input item as JSON for the workers."""
        try:
            request = self.request_adapter.validate_json(body)
        except ValidationError as exc:
            raise _input_error(exc) from None
        dump = self.spec.input_adapter.dump_json
        return [dump(item) for item in request.inputs]

    def render(self, outputs: list[bytes]) -> bytes:
        return self.response_prefix + b",".join(outputs) + b"]}"


class PredictHandler:
    """Answers predict requests for every served model through ``broker``."""

    def __init__(
        self,
        specs: Iterable[ModelSpec],
        broker: Broker,
        settings: GatewaySettings,
        cache: ResultCache | None = None,
    ) -> None:
        self._endpoints = {
            spec.name: ModelEndpoint(spec, cache.for_model(spec.name) if cache else None)
            for spec in specs
        }
        self._broker = broker
        self._settings = settings

    async def handle(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _send_problem(send, MethodNotAllowed(scope["method"], "POST"))
            return
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            await _send_problem(send, UnknownModel(name))
            return
        started = time.perf_counter()
        try:
            body, headers = await self._predict(endpoint, scope, receive)
        except ScaleserveError as exc:
            status = await _send_problem(send, exc)
        except Exception:  # a bug of ours must still answer, in JSON, and keep serving
            log.exception("predict on %r failed unexpectedly", name)
            status = await _send_problem(send, None)
        else:
            await _send(send, 200, body, headers)
            endpoint.requests_ok.inc()
            endpoint.duration_ok.observe(time.perf_counter() - started)
            return
        code = str(status)
        metrics.REQUESTS.labels(name, code).inc()
        metrics.REQUEST_DURATION.labels(name, code).observe(time.perf_counter() - started)

    async def _predict(
        self, endpoint: ModelEndpoint, scope: Scope, receive: Receive
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The response body and headers of a request that succeeds."""
        headers = _headers(scope)
        limit = self._settings.max_body_bytes
        check_headers(headers.get(b"content-type"), headers.get(b"content-length"), limit)
        timeout_s = self._timeout_s(endpoint.spec, headers.get(TIMEOUT_HEADER))
        payloads = endpoint.parse(await read_body(receive, limit))
        if endpoint.cache is None:
            outputs = await self._broker.submit(endpoint.spec.name, payloads, timeout_s)
            return endpoint.render(outputs), _JSON_HEADERS
        control = CacheControl.parse(headers.get(CACHE_CONTROL_HEADER))
        answer = await endpoint.cache.answer(payloads, timeout_s, control=control)
        return endpoint.render(answer.outputs), [*_JSON_HEADERS, (b"x-cache", answer.x_cache)]

    def _timeout_s(self, spec: ModelSpec, raw: str | None) -> float:
        """The model's default deadline, or the client's ``X-Request-Timeout`` (seconds) up to
        the configured maximum."""
        if raw is None:
            return spec.timeout_s
        try:
            asked = float(raw)
        except ValueError:
            asked = math.nan
        if not 0 < asked < math.inf:
            raise RequestError(
                f"X-Request-Timeout must be a positive number of seconds, not {raw!r}"
            )
        return min(asked, self._settings.max_timeout_s)


def _headers(scope: Scope) -> dict[bytes, str]:
    wanted = (b"content-type", b"content-length", TIMEOUT_HEADER, CACHE_CONTROL_HEADER)
    return {k: v.decode("latin-1") for k, v in scope["headers"] if k in wanted}


async def _send_problem(send: Send, error: ScaleserveError | None) -> int:
    status, body, headers = problem_body(error)
    await _send(send, status, body, headers)
    return status


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _input_error(exc: ValidationError) -> InvalidInput:
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    if problems and problems[0]["type"] == "json_invalid":
        return MalformedJSON(f"the body is not valid JSON: {problems[0]['msg']}")
    listed = [{"loc": ["body", *p["loc"]], "msg": p["msg"], "type": p["type"]} for p in problems]
    where = ".".join(str(part) for part in listed[0]["loc"])
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    return InvalidInput(f"{where}: {listed[0]['msg']}{more}", listed)
