"""``POST /v1/models/{name}/stream``: one input item through a model's ``predict_stream``,
its chunks sent as Server-Sent Events as the worker produces them.

Each chunk is one ``data:`` event holding the chunk as JSON; a stream that ends well ends
with ``event: end``; one that fails after it began ends with ``event: error`` holding the
problem body. A failure before the first chunk is an ordinary problem response (4xx/5xx).
Every streaming model gets its own route, so the OpenAPI document shows its input type.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from starlette.responses import Response

from scaleserve.api.caller import Caller, caller_of
from scaleserve.api.problems import problem_body, problem_response
from scaleserve.api.protocol_route import protocol_route, timeout_s
from scaleserve.api.routes import find_model
from scaleserve.api.schemas import Problem
from scaleserve.api.streaming import Events, EventStream, model_chunks, sse_event
from scaleserve.errors import RequestError, ScaleserveError
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker
from scaleserve.settings import GatewaySettings

END_EVENT = sse_event(b"{}", "end")


def build_router(
    specs: Sequence[ModelSpec], broker: Broker, settings: GatewaySettings
) -> APIRouter:
    router = APIRouter(
        route_class=protocol_route(problem_response, settings.max_body_bytes), tags=["predict"]
    )
    for spec in specs:
        if spec.streams:
            router.add_api_route(
                f"/v1/models/{spec.name}/stream",
                _endpoint(spec, broker, settings),
                methods=["POST"],
                response_class=EventStream,
                status_code=200,
                responses=_responses(spec),
                summary=f"Stream from {spec.name} (version {spec.version})",
                description=(spec.model_class.__doc__ or "").strip() or None,
                operation_id=f"stream_{spec.name}",
            )
    served = {spec.name: spec for spec in specs}

    @router.post("/v1/models/{name}/stream", include_in_schema=False)
    async def no_stream(name: str) -> Response:
        """Models without ``predict_stream`` (the others matched their own route above)."""
        find_model(served, name)
        raise RequestError(f"model {name!r} does not implement predict_stream; use /predict")

    return router


def stream_request_model(spec: ModelSpec) -> type[BaseModel]:
    """``{"input": In}`` for one model; extra fields are refused so typos surface."""
    title = "".join(part.capitalize() for part in re.split(r"[._-]", spec.name))
    example = spec.model_class.example_input
    return create_model(
        f"{title}StreamRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"input": example}]} if example is not None else None,
        ),
        input=(spec.input_type, Field(description="The input item; its output comes in chunks.")),
    )


def _endpoint(spec: ModelSpec, broker: Broker, settings: GatewaySettings) -> Any:
    async def stream(request: Request, body: Any) -> Response:
        deadline_s = timeout_s(request, spec.timeout_s, settings.max_timeout_s)
        payload = spec.input_adapter.dump_json(body.input)
        events = _events(caller_of(request.scope), broker, spec.name, payload, deadline_s)
        return EventStream(events, problem_response, _error_event)

    stream.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(
                "body",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=stream_request_model(spec),
            ),
        ],
        return_annotation=Response,
    )
    return stream


async def _events(
    caller: Caller, broker: Broker, model: str, payload: bytes, deadline_s: float
) -> Events:
    chunks = model_chunks(caller, broker, model, payload, deadline_s)
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            yield sse_event(chunk)
    yield END_EVENT


def _error_event(error: ScaleserveError | None) -> bytes:
    return sse_event(problem_body(error)[1], "error")


def _responses(spec: ModelSpec) -> dict[int | str, dict[str, Any]]:
    chunk_schema = TypeAdapter(spec.chunk_type).json_schema()
    return {
        200: {
            "description": (
                "Server-Sent Events: one `data:` event per chunk (the chunk as JSON), then "
                "`event: end`; `event: error` with a problem body if the stream fails."
            ),
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "x-chunk-schema": chunk_schema},
                }
            },
        },
        **{code: {"model": Problem} for code in (400, 404, 413, 422, 500, 503, 504)},
    }
