"""Health, readiness, metrics and the model list."""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.responses import Response

from scaleserve.api.problems import problem_response
from scaleserve.api.schemas import Liveness, ModelCard, ModelList, Problem, Readiness
from scaleserve.errors import UnknownModel
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker

PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def build_router(specs: Iterable[ModelSpec], broker: Broker) -> APIRouter:
    specs_by_name = {spec.name: spec for spec in specs}
    started = int(time.time())
    router = APIRouter()

    def card(spec: ModelSpec) -> ModelCard:
        return ModelCard(
            id=spec.name,
            created=started,
            version=spec.version,
            ready_workers=broker.ready_workers(spec.name),
            max_batch_size=spec.max_batch_size,
            max_wait_ms=spec.max_wait_ms,
        )

    def readiness() -> Readiness:
        counts = {name: broker.ready_workers(name) for name in specs_by_name}
        return Readiness(ready=all(counts.values()), models=counts)

    @router.get("/healthz", tags=["health"])
    async def healthz() -> Liveness:
        """Liveness: the gateway process answers."""
        return Liveness()

    @router.get("/readyz", tags=["health"], responses={503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        """Readiness: every model has at least one warm worker."""
        state = readiness()
        return JSONResponse(state.model_dump(), status_code=200 if state.ready else 503)

    @router.get("/v1/models", tags=["models"])
    async def list_models() -> ModelList:
        """The served models (OpenAI-compatible list)."""
        return ModelList(data=[card(spec) for spec in specs_by_name.values()])

    @router.get("/v1/models/{name}", tags=["models"], responses={404: {"model": Problem}})
    async def get_model(name: str) -> Response:
        spec = specs_by_name.get(name)
        if spec is None:
            return problem_response(UnknownModel(name))
        return JSONResponse(card(spec).model_dump())

    @router.get("/metrics", tags=["health"], response_class=Response)
    async def metrics_text() -> Response:
        """Prometheus metrics of the gateway and all its workers."""

        def live() -> dict[str, dict[str, float]]:
            return {
                name: {
                    "queue_depth": broker.depth(name),
                    "queue_queued": broker.queued(name),
                    "workers_ready": broker.ready_workers(name),
                }
                for name in specs_by_name
            }

        return Response(metrics.render(metrics.LiveGauges(live)), media_type=PROMETHEUS_MEDIA_TYPE)

    return router


def include(app: FastAPI, specs: Iterable[ModelSpec], broker: Broker) -> None:
    app.include_router(build_router(specs, broker))
