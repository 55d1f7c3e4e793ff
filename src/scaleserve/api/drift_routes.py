"""Admin routes of drift monitoring: every monitored version's scores and recent alerts,
and its reference: download it, set one (a summary downloaded from any monitor), or capture
a new one from the traffic that comes next."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from scaleserve.api import problems
from scaleserve.api.protocol_route import protocol_route
from scaleserve.errors import UnknownModel
from scaleserve.observe.drift_watch import DriftWatch

MAX_REFERENCE_BYTES = 4 * 1024 * 1024
REFERENCE_MEDIA_TYPE = "application/octet-stream"


def build_router(drift: DriftWatch) -> APIRouter:
    route_class = protocol_route(
        problems.problem_response, MAX_REFERENCE_BYTES, accepts=_reference_or_json
    )
    router = APIRouter(prefix="/admin/drift", tags=["drift"], route_class=route_class)

    def monitor(model: str, version: str) -> Any:
        found = drift.find(model, version)
        if found is None:
            raise UnknownModel(f"{model}@{version} (no drift monitor: no traffic yet?)")
        return found

    @router.get("")
    async def drift_report() -> dict[str, Any]:
        """Each monitored version's latest scores, and the alerts raised lately."""
        return {"monitors": drift.report(), "alerts": drift.alerts()}

    @router.get("/{model}/{version}/reference", response_class=Response)
    async def get_reference(model: str, version: str) -> Response:
        data = monitor(model, version).reference_bytes()
        if data is None:
            raise UnknownModel(f"{model}@{version} has no drift reference yet")
        return Response(data, media_type=REFERENCE_MEDIA_TYPE)

    @router.put("/{model}/{version}/reference", status_code=204, response_class=Response)
    async def set_reference(model: str, version: str, request: Request) -> Response:
        """Compare from now on with this summary (``InvalidSummary``, a 400, if it is not)."""
        monitor(model, version).set_reference(await request.body())
        return Response(status_code=204)

    @router.post("/{model}/{version}/capture", status_code=202)
    async def capture_reference(model: str, version: str) -> dict[str, Any]:
        """Take the next ``reference_items`` sampled items as the new reference."""
        found = monitor(model, version)
        found.capture_reference()
        return {"model": model, "version": version, "capturing": found.capturing}

    return router


def _reference_or_json(media_type: str) -> bool:
    return media_type in {REFERENCE_MEDIA_TYPE, "application/json"}
