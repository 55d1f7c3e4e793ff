"""The admin listener: tenants, their keys and limits, everyone's usage, cache purges and
metrics. It is a separate app on its own port (127.0.0.1 by default), opened only by admin
keys (a tenant key gets 403), and it answers only requests addressed to its own host name,
so a web page cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

import scaleserve
from scaleserve.api import audit_routes, cache_routes, drift_routes, problems, registry_routes
from scaleserve.api.protocol_route import protocol_route
from scaleserve.api.routes import Gauges, metrics_route, metrics_text
from scaleserve.api.tracing_middleware import FASTAPI_TELEMETRY
from scaleserve.api.usage import Grouping, UsageReport, usage_report
from scaleserve.audit.store import AuditStore
from scaleserve.cache.result_cache import ResultCache
from scaleserve.errors import RequestError, UnknownTenant
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import dashboard
from scaleserve.observe.drift_watch import DriftWatch
from scaleserve.queue.broker import Broker
from scaleserve.registry.registry import Registry
from scaleserve.tenancy import admin
from scaleserve.tenancy.gate import Gate
from scaleserve.tenancy.keys import bearer_key, key_id_of
from scaleserve.tenancy.records import ApiKey, Limits, Tenant
from scaleserve.tenancy.store import issue_key

LOCAL_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]
MAX_BODY_BYTES = 64 * 1024
"""Admin bodies are a tenant's name, limits or a key's label: a few hundred bytes."""


class LimitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests_per_s: float | None = Field(default=None, gt=0)
    requests_burst: int | None = Field(default=None, ge=1)
    items_per_s: float | None = Field(default=None, gt=0)
    items_burst: int | None = Field(default=None, ge=1)
    daily_requests: int | None = Field(default=None, ge=0)
    daily_items: int | None = Field(default=None, ge=0)
    max_concurrent: int | None = Field(default=None, ge=1)

    def limits(self) -> Limits:
        return Limits(**self.model_dump())


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    limits: LimitsBody = LimitsBody()


class NewKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=200)


def build_admin_app(
    specs: Sequence[ModelSpec],
    broker: Broker,
    gate: Gate,
    cache: ResultCache,
    host: str,
    *,
    registry: Registry | None = None,
    dashboard_extras: dashboard.ReadExtras | None = None,
    gauges: Gauges | None = None,
    drift: DriftWatch | None = None,
    audit: AuditStore | None = None,
) -> FastAPI:
    """``dashboard_extras``: more for the dashboard's snapshots, merged over its own;
    ``gauges``: the autoscaler's live gauges, for ``/metrics`` and the dashboard;
    ``audit``: the audit log's store, read by ``/admin/audit``."""
    app = FastAPI(
        title="scaleserve admin", version=scaleserve.__version__, telemetry=FASTAPI_TELEMETRY
    )
    app.add_middleware(_AddressedHere, allowed=frozenset([*LOCAL_NAMES, host]))

    async def admin_only(request: Request) -> None:
        authorization = request.headers.get("authorization")
        await gate.authenticate_admin(authorization)
        key = bearer_key(authorization)
        key_id = key_id_of(key) if key else None
        request.state.actor = f"admin:{key_id}" if key_id else "admin"

    guarded = [Depends(admin_only)]
    app.include_router(_tenant_routes(gate), dependencies=guarded)
    app.include_router(_usage_routes(gate, specs), dependencies=guarded)
    app.include_router(cache_routes.build_router(cache), dependencies=guarded)
    collectors = [drift.collector] if drift else []
    app.include_router(metrics_route(specs, broker, gauges, collectors), dependencies=guarded)
    if drift is not None:
        app.include_router(drift_routes.build_router(drift), dependencies=guarded)
    if registry is not None:
        app.include_router(registry_routes.build_router(registry), dependencies=guarded)
    if audit is not None:
        app.include_router(audit_routes.build_router(audit), dependencies=guarded)
    extras = _dashboard_extras(gate, specs, registry, dashboard_extras)
    _mount_dashboard(app, gate, metrics_text(specs, broker, gauges, collectors), extras)
    problems.install_handlers(app)
    return app


class _AddressedHere:
    """Refuses requests whose ``Host`` is not this listener's own name (DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self._allowed:
                refused = RequestError(f"the admin listener does not answer for host {host!r}")
                await problems.problem_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _router(tag: str) -> APIRouter:
    """A router whose bodies are read and refused like the gateway's, with a smaller limit."""
    route_class = protocol_route(problems.problem_response, MAX_BODY_BYTES)
    return APIRouter(prefix="/admin", tags=[tag], route_class=route_class)


def _tenant_routes(gate: Gate) -> APIRouter:
    router = _router("tenants")
    store = gate.store

    @router.get("/tenants")
    async def list_tenants() -> list[dict[str, Any]]:
        return [_tenant(t) for t in await store.list_tenants()]

    @router.post("/tenants", status_code=201)
    async def create_tenant(body: NewTenant) -> JSONResponse:
        """A tenant and its first API key; the key is shown here once and never again."""
        tenant, new = await admin.create_tenant(
            store, gate.hasher, body.name, body.limits.limits(), time.time()
        )
        return JSONResponse({**_tenant(tenant), "key": _new_key(new)}, 201)

    @router.get("/tenants/{name}")
    async def get_tenant(name: str) -> dict[str, Any]:
        tenant = await _find(gate, name)
        return {**_tenant(tenant), "keys": [_key(k) for k in await store.list_keys(name)]}

    @router.put("/tenants/{name}/limits")
    async def set_limits(name: str, body: LimitsBody) -> dict[str, Any]:
        """Replace the tenant's limits; every gateway applies them within seconds."""
        tenant = await store.set_limits(name, body.limits())
        gate.forget_keys()
        return _tenant(tenant)

    @router.delete("/tenants/{name}")
    async def revoke_tenant(name: str) -> dict[str, Any]:
        """Revoke the tenant and all its keys."""
        tenant = await store.revoke_tenant(name, time.time())
        gate.forget_keys()
        return _tenant(tenant)

    @router.post("/tenants/{name}/keys", status_code=201)
    async def new_key(name: str, body: NewKeyBody) -> JSONResponse:
        """Another API key for the tenant, shown here once."""
        record, key = await issue_key(store, gate.hasher, name, body.label, time.time())
        return JSONResponse(_new_key(admin.NewKey(record, key)), 201)

    @router.delete("/keys/{key_id}")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        record = await store.revoke_key(key_id, time.time())
        gate.forget_keys()
        return _key(record)

    return router


def _usage_routes(gate: Gate, specs: Sequence[ModelSpec]) -> APIRouter:
    router = _router("usage")
    by_name = {spec.name: spec for spec in specs}

    @router.get("/usage")
    async def usage(
        tenant: str | None = Query(default=None, max_length=64),
        since: str | None = None,
        until: str | None = None,
        group: Grouping = "total",
    ) -> UsageReport:
        """Every tenant's usage (or one's), with cost."""
        return await usage_report(gate, tenant, by_name, since=since, until=until, group=group)

    return router


async def _find(gate: Gate, name: str) -> Tenant:
    tenant = await gate.store.get_tenant(name)
    if tenant is None:
        raise UnknownTenant(name)
    return tenant


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        "limits": dataclasses.asdict(tenant.limits),
        "created_at": tenant.created_at,
        "revoked_at": tenant.revoked_at,
    }


def _key(key: ApiKey) -> dict[str, Any]:
    return dataclasses.asdict(key)


def _new_key(new: admin.NewKey) -> dict[str, Any]:
    return {**_key(new.record), "key": new.key}


def _mount_dashboard(
    app: FastAPI, gate: Gate, text: Callable[[], bytes], extras: dashboard.ReadExtras
) -> None:
    """``/admin/dashboard``; ``app.state.dashboard`` is its sampler, to close before the
    listener stops (it ends the open pages' event streams)."""
    sampler = dashboard.Sampler(dashboard.DashboardFeed(text, extras))
    app.state.dashboard = sampler
    router = dashboard.build_router(
        sampler, gate.authenticate_admin, problems.problem_response, version=scaleserve.__version__
    )
    app.include_router(router)


def _dashboard_extras(
    gate: Gate,
    specs: Sequence[ModelSpec],
    registry: Registry | None,
    more: dashboard.ReadExtras | None,
) -> dashboard.ReadExtras:
    """Rollouts, each tenant's usage today, then ``more`` over them (drift comes from the
    metrics, in the feed)."""
    by_name = {spec.name: spec for spec in specs}

    async def read() -> dict[str, Any]:
        today = time.strftime("%Y-%m-%d", time.gmtime())
        usage = await usage_report(gate, None, by_name, since=today, until=today, group="total")
        states = [await registry.state(m) for m in await registry.models()] if registry else []
        extras = {
            "rollouts": dashboard.rollout_rows(states),
            "usage_today": dashboard.usage_by_tenant(usage.data),
            "recent_errors": [],
        }
        return {**extras, **await more()} if more else extras

    return read
