"""Health, readiness, metrics and the model list; ``find_model``, how every route looks up
the model a request names."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client.registry import Collector
from starlette.responses import Response

from scaleserve.api.schemas import Liveness, ModelCard, ModelList, Problem, Readiness
from scaleserve.errors import InvalidModelName, UnknownModel
from scaleserve.model.spec import MODEL_NAME_PATTERN, ModelSpec
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker

PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

T = TypeVar("T")


def find_model(served: Mapping[str, T], name: str) -> T:
    """What ``served`` holds for the model ``name``.

    ``InvalidModelName`` (400) when ``name`` could be no model's name (a path, an encoded
    ``..``, a NUL byte), ``UnknownModel`` (404) when it could but no model has it. A name is
    only ever a key here: it never reaches a file path.
    """
    found = served.get(name)
    if found is not None:
        return found
    if MODEL_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidModelName(name)
    raise UnknownModel(name)


def build_router(specs: Iterable[ModelSpec], broker: Broker) -> APIRouter:
    specs_by_name = {spec.name: spec for spec in specs}
    started = int(time.time())
    router = APIRouter()

    describe = getattr(broker, "describe", None)  # a registry model's versions and rollout

    def card(spec: ModelSpec) -> ModelCard:
        described = describe(spec.name) if describe else None
        return ModelCard(
            id=spec.name,
            created=started,
            version=described["version"] if described else spec.version,
            ready_workers=broker.ready_workers(spec.name),
            max_batch_size=spec.max_batch_size,
            max_wait_ms=spec.max_wait_ms,
            versions=described["versions"] if described else None,
            rollout=described["rollout"] if described else None,
        )

    # a model that scales to zero is ready with no worker: a request starts one
    may_sleep = {n for n, s in specs_by_name.items() if s.autoscale and not s.autoscale.min_workers}

    def readiness() -> Readiness:
        counts = {name: broker.ready_workers(name) for name in specs_by_name}
        ready = all(count or name in may_sleep for name, count in counts.items())
        return Readiness(ready=ready, models=counts)

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

    @router.get(
        "/v1/models/{name}",
        tags=["models"],
        responses={400: {"model": Problem}, 404: {"model": Problem}},
    )
    async def get_model(name: str) -> ModelCard:
        return card(find_model(specs_by_name, name))

    return router


Gauges = Callable[[], dict[str, dict[str, float]]]
"""More live gauges ``{model: {name: value}}`` (the autoscaler's desired and current)."""


def metrics_text(
    specs: Iterable[ModelSpec],
    broker: Broker,
    gauges: Gauges | None = None,
    collectors: Sequence[Collector] = (),
) -> Callable[[], bytes]:
    """The text ``/metrics`` serves: every process's metrics, the live queue and worker
    gauges (and ``gauges``, the autoscaler's), the models' SLO targets and ``collectors``
    (the drift monitors')."""
    specs = list(specs)
    versions = {spec.name: spec.version for spec in specs}
    targets = metrics.SloTargets(
        {spec.name: (spec.slo_latency_ms, spec.slo_availability) for spec in specs}
    )

    def live() -> dict[str, dict[str, float]]:
        values: dict[str, dict[str, float]] = {
            name: {
                "queue_depth": broker.depth(name),
                "queue_queued": broker.queued(name),
                "workers_ready": broker.ready_workers(name),
            }
            for name in versions
        }
        for name, more in (gauges() if gauges else {}).items():
            values.setdefault(name, {}).update(more)
        return values

    return lambda: metrics.render(metrics.LiveGauges(live, versions), targets, *collectors)


def metrics_route(
    specs: Iterable[ModelSpec],
    broker: Broker,
    gauges: Gauges | None = None,
    collectors: Sequence[Collector] = (),
) -> APIRouter:
    text = metrics_text(specs, broker, gauges, collectors)
    router = APIRouter()

    @router.get("/metrics", tags=["health"], response_class=Response)
    async def metrics_text_route() -> Response:
        """Prometheus metrics of the gateway and all its workers."""
        return Response(text(), media_type=PROMETHEUS_MEDIA_TYPE)

    return router


def include(
    app: FastAPI,
    specs: Iterable[ModelSpec],
    broker: Broker,
    gauges: Gauges | None = None,
    collectors: Sequence[Collector] = (),
) -> None:
    specs = list(specs)
    app.include_router(build_router(specs, broker))
    app.include_router(metrics_route(specs, broker, gauges, collectors))
