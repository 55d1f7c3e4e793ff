"""The ``/v2`` routes: health, server and model metadata, readiness, inference.

Inference goes through ``broker.submit`` item by item, so batching, bounds and deadlines
are exactly those of the native API. Errors are ``{"error": "<message>"}`` with the status
the native API would give (400 for input the model refuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

import scaleserve
from scaleserve.api.body import is_json_media_type
from scaleserve.api.caller import caller_of
from scaleserve.api.oip import items, wire
from scaleserve.api.oip.tensors import Signature, signature
from scaleserve.api.problems import problem_body
from scaleserve.api.protocol_route import payloads, protocol_route, timeout_s
from scaleserve.api.routes import find_model
from scaleserve.errors import (
    InvalidInput,
    ModelFailed,
    ScaleserveError,
    UnknownVersion,
)
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker
from scaleserve.registry.ticket import answered_version
from scaleserve.settings import GatewaySettings

EXTENSIONS = ["binary_tensor_data"]
_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}}


class OipModel:
    """One model as the protocol sees it: its tensors and metadata."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.inputs: Signature = signature(spec.input_type, "input")
        self.outputs: Signature = signature(spec.output_type, "output")
        self.metadata = {
            "name": spec.name,
            "versions": [spec.version],
            "platform": "scaleserve",
            "inputs": [t.metadata() for t in self.inputs.tensors],
            "outputs": [t.metadata() for t in self.outputs.tensors],
        }

    def payloads(self, values: list[Any]) -> list[bytes]:
        """Each input item validated against the model's type, as JSON for the workers."""
        if not values:
            raise InvalidInput("the inputs hold no items (their first dimension is 0)")
        return payloads(self.spec, values, lambda index: [f"item {index}"])

    def output_tensors(
        self, outputs: list[bytes], request: wire.InferenceRequest
    ) -> list[wire.Tensor]:
        try:
            tensors = items.to_tensors(self.outputs, [orjson.loads(o) for o in outputs])
        except items.OutputShapeError as exc:
            raise ModelFailed(self.spec.name, str(exc)) from None
        return _select(tensors, request)


class OipApi:
    """The handlers of the ``/v2`` routes."""

    def __init__(
        self, specs: Sequence[ModelSpec], broker: Broker, settings: GatewaySettings
    ) -> None:
        self._models = {spec.name: OipModel(spec) for spec in specs}
        self._broker = broker
        self._settings = settings

    async def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(
            name="scaleserve", version=scaleserve.__version__, extensions=EXTENSIONS
        )

    async def live(self) -> Live:
        return Live(live=True)

    async def server_ready(self) -> JSONResponse:
        state = all(self._ready(name) for name in self._models)
        return JSONResponse({"ready": state}, status_code=200 if state else 503)

    async def model_metadata(self, name: str, version: str | None = None) -> ModelMetadata:
        return ModelMetadata.model_validate(self._find(name, version).metadata)

    async def model_ready(self, name: str, version: str | None = None) -> JSONResponse:
        model = self._find(name, version)
        is_ready = self._ready(name)
        return JSONResponse(
            {"name": model.spec.name, "ready": is_ready}, status_code=200 if is_ready else 503
        )

    async def infer(self, request: Request, name: str, version: str | None = None) -> Response:
        model = self._find(name, version)
        parsed, tensors = wire.parse(await request.body(), request.headers.get(wire.HEADER_LENGTH))
        values = items.to_items(model.inputs, tensors, model.spec.max_items_per_request)
        payloads = model.payloads(values)
        deadline_s = _deadline_s(parsed, request, model.spec, self._settings)
        async with caller_of(request.scope).serving(model.spec.name, len(payloads)):
            outputs = await self._broker.submit(model.spec.name, payloads, deadline_s)
        response = wire.InferenceResponse(
            model_name=model.spec.name,
            model_version=answered_version(model.spec.name, model.spec.version),
            id=parsed.id,
            outputs=[],
        )
        body, json_length = wire.render(response, model.output_tensors(outputs, parsed))
        if json_length is None:
            return Response(body, media_type="application/json")
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(json_length)},
        )

    def _find(self, name: str, version: str | None) -> OipModel:
        model = find_model(self._models, name)
        if version is not None and version != model.spec.version:
            raise UnknownVersion(name, version, model.spec.version)
        return model

    def _ready(self, name: str) -> bool:
        return self._broker.ready_workers(name) > 0


def build_router(
    specs: Sequence[ModelSpec], broker: Broker, settings: GatewaySettings
) -> APIRouter:
    api = OipApi(specs, broker, settings)
    errors: dict[int | str, dict[str, Any]] = {
        code: {"description": "Error", "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
        for code in (400, 404, 413, 415, 500, 503, 504)
    }
    router = APIRouter(
        prefix="/v2",
        tags=["open inference protocol"],
        route_class=protocol_route(render_error, settings.max_body_bytes, accepts=_media_type),
        responses=errors,
    )
    get = ["GET"]
    router.add_api_route("", api.server_metadata, methods=get, summary="Server metadata")
    router.add_api_route("/health/live", api.live, methods=get, summary="Server live")
    router.add_api_route(
        "/health/ready", api.server_ready, methods=get, summary="Server ready (every model warm)"
    )
    for suffix in ("", "/versions/{version}"):
        base = "/models/{name}" + suffix
        router.add_api_route(base, api.model_metadata, methods=get, summary="Model metadata")
        router.add_api_route(base + "/ready", api.model_ready, methods=get, summary="Model ready")
        router.add_api_route(
            base + "/infer",
            api.infer,
            methods=["POST"],
            summary="Inference",
            response_model=wire.InferenceResponse,
            openapi_extra=_infer_body_doc(),
        )
    return router


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


def _media_type(content_type: str) -> bool:
    """JSON, or (binary tensor data extension) JSON followed by raw tensors."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/octet-stream" or is_json_media_type(content_type)


def render_error(error: ScaleserveError | None) -> Response:
    """``{"error": message}`` with the native API's status (400 where it says 422)."""
    status, body, headers = problem_body(error)
    message = orjson.loads(body)["detail"]
    kept = {k.decode(): v.decode() for k, v in headers if k != b"content-type"}
    return JSONResponse(
        {"error": message}, status_code=400 if status == 422 else status, headers=kept
    )


def _deadline_s(
    request: wire.InferenceRequest, http: Request, spec: ModelSpec, settings: GatewaySettings
) -> float:
    """``X-Request-Timeout``, or the request's ``parameters.timeout`` (microseconds, as
    Triton reads it), or the model's default; at most the configured maximum."""
    deadline_s = timeout_s(http, spec.timeout_s, settings.max_timeout_s)
    asked_us = request.parameters.get("timeout")
    if isinstance(asked_us, int) and asked_us > 0:
        deadline_s = min(asked_us / 1e6, settings.max_timeout_s)
    return deadline_s


def _select(tensors: list[wire.Tensor], request: wire.InferenceRequest) -> list[wire.Tensor]:
    """The outputs the request asked for (all when it names none), binary where asked."""
    binary = request.parameters.get("binary_data_output") is True
    if request.outputs is None:
        for tensor in tensors:
            tensor.binary = binary
        return tensors
    by_name = {t.name: t for t in tensors}
    selected = []
    for wanted in request.outputs:
        if wanted.name not in by_name:
            raise InvalidInput(f"unknown output {wanted.name!r}; the outputs are {sorted(by_name)}")
        tensor = by_name[wanted.name]
        tensor.binary = wanted.parameters.get("binary_data", binary) is True
        selected.append(tensor)
    return selected


def _infer_body_doc() -> dict[str, Any]:
    schema = _inline(wire.InferenceRequest.model_json_schema())
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "description": "Binary tensor data extension: the JSON request (its length in "
                    "the Inference-Header-Content-Length header), then the raw tensors.",
                },
            },
        }
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``$defs`` references written in place (for an OpenAPI body)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))
