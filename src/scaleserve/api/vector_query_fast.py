"""``POST /v1/collections/{name}/query`` as a plain ASGI route, ahead of FastAPI.

A vector query is the hot path of retrieval; through FastAPI's request machinery it cost
more than the search itself (measured with ``benchmarks/vectors_http.py``), as predict
and job requests did before they became plain ASGI. The same body limits, validation
(``QueryBody``), work (``VectorApi.search``) and problem bodies as the FastAPI route,
which stays declared for the OpenAPI document.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from scaleserve.api.body import check_headers, parse_json, read_body
from scaleserve.api.caller import caller_of
from scaleserve.api.protocol_route import validation_error
from scaleserve.api.raw_response import send_problem, send_response
from scaleserve.api.vector_routes import VectorApi
from scaleserve.api.vector_schemas import QueryBody
from scaleserve.errors import ScaleserveError
from scaleserve.vectors.records import Hit

log = logging.getLogger(__name__)

_PREFIX = "/v1/collections/"
_SUFFIX = "/query"
_JSON = [(b"content-type", b"application/json")]
_MISSING_BODY = [{"loc": ["body"], "msg": "Field required", "type": "missing"}]


class VectorQueryShortcut:
    """The gateway's shortcut to the query route (see ``scaleserve.api.gateway``)."""

    def __init__(self, api: VectorApi, max_body_bytes: int) -> None:
        self._api = api
        self._limit = max_body_bytes
        self._body: TypeAdapter[QueryBody] = TypeAdapter(QueryBody)

    def handler(self, scope: Scope) -> ASGIApp | None:
        path = scope["path"]
        if scope["method"] != "POST" or not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
            return None
        name = path[len(_PREFIX) : -len(_SUFFIX)]
        if not name or "/" in name:
            return None
        scope["path_params"] = {"name": name}
        return self._handle

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._read(scope, receive)
            hits = await self._api.search(caller_of(scope), scope["path_params"]["name"], body)
        except Exception as exc:  # every failure answers as a problem body
            if not isinstance(exc, ScaleserveError):
                log.exception("POST %s failed unexpectedly", scope["path"])
            await send_problem(send, exc if isinstance(exc, ScaleserveError) else None)
            return
        await send_response(send, 200, orjson.dumps({"hits": [_hit(h) for h in hits]}), _JSON)

    async def _read(self, scope: Scope, receive: Receive) -> QueryBody:
        headers = {k: v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"content-type", b"content-length")}  # fmt: skip
        check_headers(headers.get(b"content-type"), headers.get(b"content-length"), self._limit)
        raw = await read_body(receive, self._limit)
        if not raw:
            raise validation_error(_MISSING_BODY)
        try:
            return self._body.validate_python(parse_json(raw))
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_context=False, include_input=False)
            raise validation_error([{**p, "loc": ["body", *p["loc"]]} for p in problems]) from None


def _hit(hit: Hit) -> dict[str, Any]:
    out: dict[str, Any] = {"id": hit.id, "score": hit.score}
    if hit.payload is not None:
        out["payload"] = hit.payload
    if hit.vector is not None:
        out["vector"] = hit.vector
    return out
