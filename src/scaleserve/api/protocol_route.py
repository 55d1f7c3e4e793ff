"""FastAPI routes that read their body the gateway's way and answer every error in their
own shape: the standard protocols' (Open Inference Protocol, OpenAI-compatible) and the
native problem shape (streaming, jobs, the admin listener).

A router gets them with ``APIRouter(route_class=protocol_route(render, limit_bytes))``.
``render(error)`` turns a ``ScaleserveError`` (``None``: an unexpected failure, already
logged) into that protocol's error response. The body is read and parsed by
``scaleserve.api.body`` before FastAPI sees it, so the media type, the size and the JSON
limits are those of the native predict route, and FastAPI never parses JSON itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response

from scaleserve.api.body import (
    MediaCheck,
    check_headers,
    is_json_media_type,
    parse_json,
    read_body,
)
from scaleserve.errors import InvalidInput, RequestError, ScaleserveError
from scaleserve.model.spec import ModelSpec

log = logging.getLogger(__name__)

Render = Callable[[ScaleserveError | None], Response]
TIMEOUT_HEADER = "x-request-timeout"


def protocol_route(
    render: Render, limit_bytes: int, accepts: MediaCheck = is_json_media_type
) -> type[APIRoute]:
    """A route class whose handlers answer errors through ``render`` and take bodies of the
    media types ``accepts`` allows, of at most ``limit_bytes``."""

    class ProtocolRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()
            parses = self.body_field is not None  # else the handler reads the body itself

            async def guarded(request: Request) -> Response:
                try:
                    await _read_bounded(request, limit_bytes, accepts, parses=parses)
                    return await handle(request)
                except RequestValidationError as exc:
                    return render(validation_error(exc.errors()))
                except ScaleserveError as exc:
                    return render(exc)
                except Exception:  # a bug of ours must still answer, in the protocol's shape
                    log.exception("%s %s failed unexpectedly", request.method, request.url.path)
                    return render(None)

            return guarded

    return ProtocolRoute


def validation_error(problems: Any) -> InvalidInput:
    """``InvalidInput`` naming the first problem of a pydantic/FastAPI error list."""
    listed = [
        {"loc": list(p.get("loc", ())), "msg": str(p.get("msg", "")), "type": str(p.get("type"))}
        for p in problems
    ]
    if not listed:
        return InvalidInput("the request does not match the schema")
    loc = listed[0]["loc"]
    where = ".".join(str(part) for part in (loc[1:] if loc[:1] == ["body"] else loc)) or "body"
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    return InvalidInput(f"{where}: {listed[0]['msg']}{more}", listed)


def payloads(spec: ModelSpec, items: list[Any], loc: Callable[[int], list[Any]]) -> list[bytes]:
    """Each item validated against the model's input type, as JSON for the workers.

    ``InvalidInput`` names the first bad item where ``loc(index)`` says it sits in the
    request, and refuses more items than the model takes in one request.
    """
    if len(items) > spec.max_items_per_request:
        raise InvalidInput(f"{len(items)} items is over the limit of {spec.max_items_per_request}")
    adapter = spec.input_adapter
    encoded = []
    for index, item in enumerate(items):
        try:
            encoded.append(adapter.dump_json(adapter.validate_python(item)))
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_context=False, include_input=False)
            raise validation_error(
                [{**p, "loc": [*loc(index), *p["loc"]]} for p in problems]
            ) from None
    return encoded


def timeout_s(request: Request, default_s: float, max_s: float) -> float:
    """The deadline a request asks for with ``X-Request-Timeout`` (see ``requested_timeout_s``)."""
    return requested_timeout_s(request.headers.get(TIMEOUT_HEADER), default_s, max_s)


def requested_timeout_s(raw: str | None, default_s: float, max_s: float) -> float:
    """``default_s``, or the client's ``X-Request-Timeout`` value ``raw`` (seconds) up to
    ``max_s``; every route reads the header by this one rule."""
    if raw is None:
        return default_s
    try:
        asked = float(raw)
    except ValueError:
        asked = math.nan
    if not 0 < asked < math.inf:
        raise RequestError(
            f"X-Request-Timeout must be a positive number of seconds, not {raw[:40]!r}"
        )
    return min(asked, max_s)


async def _read_bounded(
    request: Request, limit_bytes: int, accepts: MediaCheck, *, parses: bool
) -> None:
    """Read the body before FastAPI does: refuse a media type ``accepts`` does not allow or
    a body past ``limit_bytes``, and parse JSON for the handler when ``parses``."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    content_type = request.headers.get("content-type")
    check_headers(content_type, request.headers.get("content-length"), limit_bytes, accepts)
    # Starlette keeps a read body in ``_body`` and its JSON in ``_json``; FastAPI's handler
    # then uses them instead of reading and parsing (with no limits) itself.
    body = await read_body(request.receive, limit_bytes)
    request._body = body
    if parses and body and is_json_media_type(content_type or "application/json"):
        request._json = parse_json(body)
