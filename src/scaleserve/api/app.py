"""The app factory: the one place the gateway's HTTP surface is wired together."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

import scaleserve
from scaleserve.api import (
    feature_routes,
    openai_routes,
    openapi,
    problems,
    routes,
    streaming_route,
    usage,
    vector_routes,
)
from scaleserve.api import jobs as job_routes
from scaleserve.api import jobs_batch as batch_routes
from scaleserve.api.access_log import AccessLog, access_log_wanted
from scaleserve.api.audit_hook import PredictionAudit
from scaleserve.api.gateway import Gateway, Shortcut
from scaleserve.api.jobs import JobsApi
from scaleserve.api.jobs_fast import JobShortcuts
from scaleserve.api.oip import routes as oip_routes
from scaleserve.api.predict import PredictHandler
from scaleserve.api.routes import Gauges
from scaleserve.api.text_embedder import TextEmbedder
from scaleserve.api.tracing_middleware import FASTAPI_TELEMETRY, TracingMiddleware
from scaleserve.api.vector_query_fast import VectorQueryShortcut
from scaleserve.audit.metrics import AuditCollector
from scaleserve.audit.sink import AuditSink
from scaleserve.cache.result_cache import ResultCache
from scaleserve.errors import ConfigError
from scaleserve.features.store import FeatureStore
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import tracing
from scaleserve.observe.drift_watch import DriftWatch
from scaleserve.observe.recent_errors import RecentErrors
from scaleserve.queue.broker import Broker
from scaleserve.settings import GatewaySettings
from scaleserve.tenancy.gate import Gate
from scaleserve.vectors.store import VectorStore


def create_app(
    specs: Sequence[ModelSpec],
    broker: Broker,
    settings: GatewaySettings,
    gate: Gate,
    *,
    jobs: JobsApi | None = None,
    cache: ResultCache | None = None,
    routing: bool = False,
    gauges: Gauges | None = None,
    drift: DriftWatch | None = None,
    errors: RecentErrors | None = None,
    vectors: VectorStore | None = None,
    features: FeatureStore | None = None,
    audit: AuditSink | None = None,
) -> ASGIApp:
    """The gateway's ASGI app for ``specs`` served through ``broker`` (and ``jobs``, when given).

    The lifecycles of the broker and the job store belong to the caller: the app only uses them.
    ``routing``: some models are registry models with versions chosen per request.
    ``gauges``: more live gauges per model for ``/metrics`` (the autoscaler's).
    ``drift``: the drift monitors the predict route feeds (models that ask for them).
    ``errors``: where the predict route keeps its latest 5xx answers (for the dashboard).
    ``vectors``: the tenants' vector collections (``/v1/collections``), opened by the caller.
    ``features``: the online features the models read (``/v1/features``, and the join into
    their inputs); needed when a model declares features.
    ``audit``: where the predict route offers the records of audited models.
    """
    app = FastAPI(
        title="scaleserve",
        version=scaleserve.__version__,
        description="Models served by scaleserve: " + ", ".join(s.name for s in specs),
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.specs_by_name = {spec.name: spec for spec in specs}
    collectors: list[Collector] = [drift.collector] if drift else []
    if audit is not None:
        collectors.append(AuditCollector(audit))
    routes.include(app, specs, broker, gauges, collectors)
    app.include_router(usage.build_router())
    app.include_router(streaming_route.build_router(specs, broker, settings))
    app.include_router(oip_routes.build_router(specs, broker, settings))
    app.include_router(openai_routes.build_router(specs, broker, settings))
    shortcuts: list[Shortcut] = []
    if vectors is not None:
        vector_api = vector_routes.VectorApi(vectors, TextEmbedder(specs, broker))
        app.include_router(vector_routes.build_router(vector_api, settings.max_body_bytes))
        shortcuts.append(VectorQueryShortcut(vector_api, settings.max_body_bytes))
    views = feature_routes.served_views(specs)
    if views and features is None:
        raise ConfigError("a served model reads online features: give the app a feature store")
    if features is not None:
        app.include_router(feature_routes.build_router(features, views, settings.max_body_bytes))
    # Without a cache from the caller, cached models get a memory-only one (it needs no start).
    cache = cache or ResultCache(specs, broker)
    shortcuts.append(
        PredictHandler(
            specs,
            broker,
            settings,
            cache,
            drift=drift,
            errors=errors,
            features=features,
            audit=PredictionAudit(audit) if audit is not None else None,
        )
    )
    if jobs is not None:
        app.include_router(job_routes.build_router(jobs, settings.max_body_bytes))
        app.include_router(batch_routes.build_router(jobs, settings.max_body_bytes))
        shortcuts.append(JobShortcuts(jobs, settings.max_body_bytes))
    problems.install_handlers(app)
    openapi.install_openapi(app, specs)
    outer: ASGIApp = Gateway(app, gate, shortcuts, settings.body_timeout_s, routing=routing)
    if access_log_wanted():
        outer = AccessLog(outer)
    return TracingMiddleware(outer) if tracing.active() else outer
